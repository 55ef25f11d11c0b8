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


# The modules the firmware's panel and the board's panel parts import when they are first
# built: loaded here, so that "data" below is data. Their code is frozen on the device, and
# a lazy import inside the measured run would also grow the unix port's qstr pool by a
# whole new pool (tens of KB) at whatever moment the names cross its boundary.
LAZY = ("firmware.panel.display", "firmware.panel.ui", "firmware.panel.beeper",
        "keypad_model", "mfrc522_chip", "oled_model", "ssd1306", "drivers.keypad",
        "drivers.mfrc522")


def day(panel):
    sc = scenario_mod.load(dayplan.busy_day())
    for name in LAZY:
        __import__(name)
    gc.collect()
    base = gc.mem_alloc()  # every module's code is loaded by now (frozen on the device)
    sim = Sim(sc, _Null(), panel=panel)
    t0 = time.ticks_ms()
    peak = 0
    t = 0
    while t < sc.duration_s:
        t += 600
        sim.run(until_s=t)
        gc.collect()
        live = gc.mem_alloc()
        if live > peak:
            peak = live
    wall = time.ticks_diff(time.ticks_ms(), t0) / 1000
    flash = sim.app.persist.journal.writes + sim.app.persist.outbox.writes
    ends = sim.log.counts.get("session_end", 0)
    sim.close()
    return wall, sc.duration_s, peak, base, flash / (CLOCK.us / 3600e6), ends


def main():
    only_core = "--core" in sys.argv
    wall, dur, peak, base, flash_h, ends = day(False)
    print("busy_day_24h_10port_wall %.1f s" % wall)
    print("sim_speed_x %.0f x" % (dur / wall))
    print("busy_day_sessions %d ended" % ends)
    print("busy_day_heap_peak %d bytes" % peak)
    print("busy_day_heap_code %d bytes" % base)
    print("busy_day_heap_data_peak %d bytes" % (peak - base))
    print("flash_writes_per_h_busy_day %.0f writes" % flash_h)
    if not only_core:
        wall, dur, peak, base, flash_h, ends = day(True)
        print("busy_day_with_panel_wall %.1f s" % wall)
        print("busy_day_with_panel_heap_data_peak %d bytes" % (peak - base))


main()
