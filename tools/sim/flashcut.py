# Kill the process at the Nth flash operation (MicroPython and CPython).
#
#   cut = FlashCut(37, torn=True); cut.install(store, outbox)
#
# Counts every write to a file opened for writing or appending and every rename and
# remove made by the given modules (the firmware's store, journal and outbox), and at
# operation number `at` (1-based) SIGKILLs its own process: just before the operation,
# or, with torn, after writing the first half of that write's bytes (a write the power
# cut in the middle). The OS keeps what was written, as after a crash; the store and the
# outbox must cope with both. Kill points chosen by count, not by wall clock, are the
# same in every run, so a campaign covers the same dangerous moments each time.

import os


def _die():
    if hasattr(os, "kill"):  # CPython
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    else:  # MicroPython unix port: no getpid or kill; the shell's parent is this process
        os.system("kill -9 $PPID")
    while True:  # the signal is on its way; nothing more may reach the flash
        pass


class _File:
    def __init__(self, cut, f):
        self.cut = cut
        self.f = f

    def write(self, data):
        self.cut.op(self.f, data)
        return self.f.write(data)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


class _Os:
    """The os functions the firmware's storage modules use; rename and remove counted."""

    def __init__(self, cut):
        self.cut = cut
        self.stat = os.stat
        self.listdir = os.listdir
        self.mkdir = os.mkdir

    def rename(self, a, b):
        self.cut.op()
        os.rename(a, b)

    def remove(self, p):
        self.cut.op()
        os.remove(p)


class FlashCut:
    def __init__(self, at=None, torn=False):
        self.at = at  # None: count only
        self.torn = torn
        self.n = 0

    def op(self, f=None, data=None):
        self.n += 1
        if self.n != self.at:
            return
        if self.torn and f is not None and len(data) > 1:
            f.write(data[:len(data) // 2])
        _die()

    def open(self, path, mode="r"):
        f = open(path, mode)
        if "w" in mode or "a" in mode:
            return _File(self, f)
        return f

    def install(self, *modules):
        fake_os = _Os(self)
        for m in modules:
            m.open = self.open
            m.os = fake_os
        return self
