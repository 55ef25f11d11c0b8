# The 24 h busy day (10 ports, ~30 sessions) on the MicroPython unix port: wall time,
# live heap peak, flash writes. Prints `name value unit` lines.
#   micropython [-X heapsize=64k] tools/bench/bench_day.py
import sys

sys.path[:0] = ["tools/sim", ".", "lib"]

import gc  # noqa: E402
import time  # noqa: E402

import dayplan  # noqa: E402
import scenario as scenario_mod  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402


class _Null:
    def write(self, s):
        pass


def main():
    sc = scenario_mod.load(dayplan.busy_day())
    gc.collect()
    base = gc.mem_alloc()  # every module's code is loaded by now (frozen on the device)
    sim = Sim(sc, _Null())
    t0 = time.ticks_ms()
    peak = 0
    step_s = 600
    t = 0
    while t < sc.duration_s:
        t += step_s
        sim.run(until_s=t)
        gc.collect()
        live = gc.mem_alloc()
        if live > peak:
            peak = live
    wall = time.ticks_diff(time.ticks_ms(), t0) / 1000
    j = sim.app.persist.journal
    ob = sim.app.persist.outbox
    hours = CLOCK.us / 3600e6
    print("busy_day_24h_10port_wall %.1f s" % wall)
    print("sim_speed_x %.0f x" % (sc.duration_s / wall))
    print("busy_day_sessions %d ended" % sim.log.counts.get("session_end", 0))
    print("busy_day_heap_peak %d bytes" % peak)
    print("busy_day_heap_code %d bytes" % base)
    print("busy_day_heap_data_peak %d bytes" % (peak - base))
    print("flash_writes_per_h_busy_day %.0f writes" % ((j.writes + ob.writes) / hours))
    sim.close()


main()
