import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (os.path.join(HERE, "cpython_shims"), os.path.join(ROOT, "lib"), ROOT,
          os.path.join(ROOT, "tools", "sim")):
    if p not in sys.path:
        sys.path.insert(0, p)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

FULL = bool(os.environ.get("FULL"))
