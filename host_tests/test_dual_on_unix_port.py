"""Every test in host_tests/dual runs on the real MicroPython VM (unix port) too."""

import glob
import os

import pytest
from mpy import ROOT, run_mpy

DUAL = os.path.join(ROOT, "host_tests", "dual")
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(DUAL, "test_*.py")))


@pytest.mark.parametrize("module", MODULES)
def test_dual_module_on_unix_port(module):
    code = ("sys.path.insert(0, %r)\nsys.argv[1:] = [%r]\nexec(open(%r).read())\n"
            % (DUAL, module, os.path.join(DUAL, "runner.py")))
    out = run_mpy(code)
    last = out.strip().splitlines()[-1]
    assert last.startswith("RAN "), out
    ran, failed = int(last.split()[1]), int(last.split()[3])
    assert ran > 0, "no test_* functions found in %s" % module
    assert failed == 0, out
