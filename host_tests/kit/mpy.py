"""Run device code on the MicroPython unix port, with the virtual board first on its path.

    out = run_mpy("import drivers.hlw8032 as h; print(h.decode(b''))")

The code sees sys.path = [tools/sim, repo root, lib, ...], the same order the simulator
uses, so `import machine` gets the fake board. Returns stdout (str); raises
MpyError with stderr when the VM exits non-zero or runs past `timeout_s`.
"""

import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "tools", "sim")
LIB = os.path.join(ROOT, "lib")
MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(ROOT, ".venv", "bin", "micropython"))
PRELUDE = "import sys\nsys.path[:0] = [%r, %r, %r]\n" % (SIM, ROOT, LIB)


class MpyError(AssertionError):
    pass


def run_mpy(code, timeout_s=300, heapsize=None, args=()):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PRELUDE + code)
        path = f.name
    cmd = [MICROPYTHON]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += [path] + list(args)
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise MpyError("micropython ran past %s s:\n%s" % (timeout_s, e.stdout)) from None
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise MpyError("micropython exit %d\n--- stdout\n%s\n--- stderr\n%s"
                       % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p.stdout


def run_script(path, args=(), timeout_s=300, heapsize=None):
    """Run a device-side script (host_tests/<subject>/device/*.py, a real file that ruff and
    pyright check) like run_mpy: the same path prelude, argv[1:] = args, stdout back."""
    with open(path) as f:
        code = f.read()
    return run_mpy(code, timeout_s=timeout_s, heapsize=heapsize, args=[str(a) for a in args])


def device_code(test_file, name):
    """The text of <test_file's folder>/device/<name>, for tests that put a device-side
    rig before code of their own."""
    with open(os.path.join(os.path.dirname(os.path.abspath(test_file)), "device", name)) as f:
        return f.read()
