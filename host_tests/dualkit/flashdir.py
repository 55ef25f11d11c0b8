# Scratch "flash" directories and power cuts for the persistence tests (both VMs).
import os

_N = [0]


def fresh(tag="flash"):
    """A new empty directory under $TMPDIR (or /tmp)."""
    base = os.getenv("TMPDIR") or "/tmp"
    _N[0] += 1
    d = "%s/cab-%s-%d-%s" % (base, tag, _N[0], "".join("%02x" % b for b in os.urandom(4)))
    os.mkdir(d)
    return d


def wipe(d):
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)


def files(d):
    return sorted(os.listdir(d))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Cut(Exception):
    """The power went off."""


class _File:
    def __init__(self, f, power):
        self.f = f
        self.power = power

    def write(self, data):
        left = self.power.left
        if left is not None and len(data) > left:
            self.f.write(data[:left])  # the bytes that made it before the cut
            self.power.left = 0
            self.f.close()
            raise Cut()
        if left is not None:
            self.power.left = left - len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


class Power:
    """Cuts the power in modules that write flash after `left` steps.

    A step is one byte written or one rename; `left=None` never cuts. Patched into the
    given modules as their `open` and `os` (undo with restore())."""

    def __init__(self, modules, left=None):
        self.modules = modules
        self.left = left
        power = self

        class _Os:
            @staticmethod
            def rename(a, b):
                if power.left is not None:
                    if power.left == 0:
                        raise Cut()
                    power.left -= 1
                os.rename(a, b)

            def __getattr__(self, name):
                return getattr(os, name)

        self.os = _Os()
        for m in modules:
            m.open = self._open
            m.os = self.os

    def _open(self, path, mode="r"):
        f = open(path, mode)
        return _File(f, self) if "r" not in mode else f

    def restore(self):
        for m in self.modules:
            del m.open
            m.os = os
