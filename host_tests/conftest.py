import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The shared helpers live in two kit folders every subject folder imports from by bare
# name: kit/ (CPython only: mpy, mqttkit, hubkit, simrun, schemas, the cpython_shims) and
# dualkit/ (also loaded on the MicroPython unix port: the dual runner, flashdir, jsonlines,
# hlw_sim, ui_scenes, scenkit). Subject folders hold no __init__.py: pytest puts each test
# file's own folder on sys.path, so a test's device/ scripts and siblings resolve too.
KIT = os.path.join(HERE, "kit")
DUALKIT = os.path.join(HERE, "dualkit")
for p in (os.path.join(KIT, "cpython_shims"), os.path.join(ROOT, "lib"), ROOT,
          os.path.join(ROOT, "tools", "sim"), DUALKIT, KIT):
    if p not in sys.path:
        sys.path.insert(0, p)
# pytest has put host_tests itself on sys.path to load this file (`from conftest import
# FULL` relies on it); ROOT now comes before it, so a subject folder named like a top-level
# package (drivers, tools) never shadows that package.

FULL = bool(os.environ.get("FULL"))
