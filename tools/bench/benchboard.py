# Allocation-free stand-ins for the board, shared by the control and flash benchmarks:
# every port gets a fresh meter reading on every poll, power flows only through a
# commanded relay, the cabinet is cool and smoke-free.
from vclock import CLOCK


class _Null:
    def write(self, s):
        pass


class _Count:
    def __init__(self):
        self.n = 0

    def __call__(self, ev):
        self.n += 1


class ReplayMeters:
    """Allocation-free meters: every port gets a fresh reading on every poll."""

    def __init__(self, n, mw, relays):
        self.relays = relays
        self.on_mw = mw
        self.mv = [220000] * n
        self.ma = [mw // 130] * n
        self.mw = [mw] * n
        self.energy_mwh = [0] * n
        self.frames = [0] * n
        self.seen_ms = [0] * n
        self.n = n
        self.step_mwh = mw // 14400  # 250 ms at mw

    def poll(self):
        on = self.relays.cmd
        for p in range(self.n):
            self.frames[p] += 1
            if on[p]:  # power flows only through closed contacts
                self.mw[p] = self.on_mw
                self.energy_mwh[p] += self.step_mwh
            else:
                self.mw[p] = 0

    def silent(self, p):
        return False


class Relays:
    def __init__(self, n):
        self.cmd = [False] * n

    def set(self, i, on):
        self.cmd[i] = on

    def get(self, i):
        return self.cmd[i]


class Sensors:
    def cabinet_c10(self):
        return 250

    def smoke(self):
        return False

    def door_open(self):
        return False


class Board:
    def __init__(self, n):
        self.clock = CLOCK
        self.relays = Relays(n)
        self.meters = ReplayMeters(n, 180000, self.relays)
        self.sensors = Sensors()
