# Control-core benchmarks on the MicroPython unix port. Prints `name value unit` lines.
#   micropython tools/bench/bench_control.py
import sys

sys.path[:0] = ["tools/sim", ".", "lib"]

import gc  # noqa: E402
import time  # noqa: E402

import dayplan  # noqa: E402
import scenario as scenario_mod  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402
from firmware import config as config_mod  # noqa: E402
from firmware.app import App  # noqa: E402


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


class Board:
    def __init__(self, n):
        self.clock = CLOCK
        self.relays = Relays(n)
        self.meters = ReplayMeters(n, 180000, self.relays)
        self.sensors = Sensors()


def steady_state(ticks=4000, ports=10):
    """All ports charging at 180 W, a fresh reading for every port on every tick."""
    cfg, _ = config_mod.validate({"ports": ports})
    board = Board(ports)
    count = _Count()
    app = App(board, cfg, count)
    for p in range(ports):
        app.start(p, "remote", {"full": True})
    for _ in range(80):  # let every staggered relay close and the sessions settle
        CLOCK.advance_ms(250)
        app.tick()
    assert all(app.relay_on), "not every relay closed"
    gc.collect()
    gc.disable()
    alloc = 0
    t_us = 0
    events0 = count.n
    for _ in range(ticks):
        CLOCK.advance_ms(250)
        a = gc.mem_alloc()
        t0 = time.ticks_us()
        app.tick()
        t_us += time.ticks_diff(time.ticks_us(), t0)
        alloc += gc.mem_alloc() - a
    gc.enable()
    return t_us / ticks / ports, alloc / ticks, count.n - events0


def busy_day():
    sc = scenario_mod.load(dayplan.busy_day())
    gc.collect()
    t0 = time.ticks_ms()
    sim = Sim(sc, _Null())
    sim.run()
    wall_s = time.ticks_diff(time.ticks_ms(), t0) / 1000
    return wall_s, sim.log.counts.get("session_end", 0), sim.log.counts.get("session_start", 0)


def main():
    us, alloc, events = steady_state()
    print("control_us_per_port_tick %.2f us" % us)
    print("control_heap_bytes_per_tick %.1f bytes" % alloc)
    print("control_events_in_steady_state %d events" % events)
    wall, ends, starts = busy_day()
    print("busy_day_24h_10port_wall %.1f s" % wall)
    print("busy_day_sessions %d started, %d ended" % (starts, ends))


main()
