"""Every int the steady-state control tick touches stays below 2**30 (the ESP32's
small-int bound: a bigger int is a long int, allocated on the heap every time it is
made). CPython host tool; host_tests/core/test_small_ints.py and make bench run it.

    .venv/bin/python tools/bench/smallint.py [TICKS]

The tick is tools/bench/steady.py's (10 ports, real HLW8032 driver, TOU tariff, July 2026,
sessions 3 h old, up 21 days, meter counters at their wrap). sys.settrace follows every
frame of firmware/ and drivers/ and, at each line and return, looks at each int local,
each int in a local list or tuple, and each attribute the function's code names (its
co_names) on each local object (self, a session, a meter), and the lists those hold.
Prints `name value unit` lines; exits 1 when an int reaches 2**30 in magnitude.
"""

import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.realpath(os.path.dirname(os.path.dirname(HERE)))
for _p in (os.path.join(ROOT, "host_tests", "kit", "cpython_shims"), os.path.join(ROOT, "lib"),
           ROOT, os.path.join(ROOT, "tools", "sim"), HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

LIMIT = 1 << 30
WATCHED = (os.path.join(ROOT, "firmware") + os.sep, os.path.join(ROOT, "drivers") + os.sep)
_NOT_OBJECTS = (type, types.ModuleType, types.FunctionType, types.MethodType,
                types.BuiltinFunctionType)


class Watch:
    def __init__(self):
        self.big = {}  # "file:function name" -> the first value >= 2**30 seen there
        self.checked = 0
        self.frames = 0
        self.seen = set()  # "file:function" of every traced frame
        self._names = {}
        self._where = {}  # code -> "file:function", or None when not watched

    def _look(self, where, name, v):
        t = type(v)
        if t is int:
            self.checked += 1
            if (v >= LIMIT or v < -LIMIT) and where + " " + name not in self.big:
                self.big[where + " " + name] = v
        elif (t is list or t is tuple) and len(v) <= 64:
            for x in v:
                if type(x) is int:
                    self.checked += 1
                    if (x >= LIMIT or x < -LIMIT) and where + " " + name + "[]" not in self.big:
                        self.big[where + " " + name + "[]"] = x

    def _scan(self, frame, ret=None, returned=False):
        code = frame.f_code
        touched = self._names.get(code)
        if touched is None:
            touched = self._names[code] = frozenset(code.co_names)
        where = self._where[code]
        for k, v in frame.f_locals.items():
            self._look(where, k, v)
            d = getattr(v, "__dict__", None)
            if d is not None and not isinstance(v, _NOT_OBJECTS):
                for a in touched:
                    if a in d:
                        self._look(where, "%s.%s" % (k, a), d[a])
        if returned:
            self._look(where, "<return>", ret)

    def _local(self, frame, event, arg):
        if event == "line":
            self._scan(frame)
        elif event == "return":
            self._scan(frame, arg, True)
        return self._local

    def _watched(self, code):
        # co_filename may be relative (to the directory at import time): normalise once.
        where = self._where.get(code, 0)
        if where == 0:
            path = os.path.realpath(os.path.abspath(code.co_filename))
            where = None
            if path.startswith(WATCHED):
                where = "%s:%s" % (os.path.relpath(path, ROOT), code.co_name)
            self._where[code] = where
        return where

    def _global(self, frame, event, arg):
        where = self._watched(frame.f_code)
        if where is None:
            return None
        self.frames += 1
        self.seen.add(where)
        self._scan(frame)
        return self._local

    def run(self, fn, *args):
        sys.settrace(self._global)
        try:
            return fn(*args)
        finally:
            sys.settrace(None)


def check(ticks=400, patch=None):
    """(Watch, app) after `ticks` traced steady-state ticks (20 s at 50 ms). patch(clock)
    may break something first (the tests prove the check can fail)."""
    import steady
    from vclock import CLOCK

    app, tick = steady.build()
    if patch is not None:
        patch(CLOCK)

    def many():
        for _ in range(ticks):
            tick()

    w = Watch()
    w.run(many)
    return w, app


def main(argv):
    ticks = int(argv[0]) if argv else 400
    w, _ = check(ticks)
    print("control_hot_ints_checked %d ints" % w.checked)
    print("control_hot_ints_over_2e30 %d ints" % len(w.big))
    for k in sorted(w.big):
        print("  big %s = %d" % (k, w.big[k]))
    return 1 if w.big else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
