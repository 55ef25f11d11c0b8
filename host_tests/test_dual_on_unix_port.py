"""Every test module marked `DUAL = True` (host_tests/<subject>/test_*.py) runs on the real
MicroPython VM (unix port) too, through host_tests/dualkit/runner.py."""

import glob
import os
import re

import pytest
from mpy import ROOT, run_mpy

HERE = os.path.join(ROOT, "host_tests")
DUALKIT = os.path.join(HERE, "dualkit")
# The marker is a plain module-level assignment so the unix port needs nothing to read it.
MARKER = re.compile(r"^DUAL = True\b", re.M)
# The 29 dual modules of the old host_tests/dual folder, panel/test_panel.py and
# core/test_feeder.py: a marker lost in a move or an edit turns this red instead of
# silently running fewer modules.
AT_LEAST = 31


def _dual_modules():
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, "*", "test_*.py"))):
        with open(path) as f:
            if MARKER.search(f.read()):
                found.append(os.path.relpath(path, HERE)[:-3])
    return found


MODULES = _dual_modules()


def test_every_dual_module_is_found():
    assert len(MODULES) >= AT_LEAST, MODULES


@pytest.mark.parametrize("module", MODULES)
def test_dual_module_on_unix_port(module):
    folder, name = os.path.split(module)
    code = ("sys.path[:0] = [%r, %r]\nsys.argv[1:] = [%r]\nexec(open(%r).read())\n"
            % (os.path.join(HERE, folder), DUALKIT, name, os.path.join(DUALKIT, "runner.py")))
    out = run_mpy(code)
    last = out.strip().splitlines()[-1]
    assert last.startswith("RAN "), out
    ran, failed = int(last.split()[1]), int(last.split()[3])
    assert ran > 0, "no test_* functions found in %s" % module
    assert failed == 0, out
