# Control-core benchmarks on the MicroPython unix port. Prints `name value unit` lines.
#   .venv/bin/micropython tools/bench/bench_control.py
import sys

sys.path[:0] = ["tools/bench", "tools/sim", ".", "lib"]

import gc  # noqa: E402
import time  # noqa: E402

from benchboard import Board, _Count  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.core.app import App  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402


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
    assert all(port.relay_on for port in app.ports), "not every relay closed"
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


def device_month(ticks=4000):
    """tools/bench/steady.py: the real HLW8032 driver, TOU tariff, July 2026, sessions
    3 h old, up 21 days, meter counters wrapping (tools/bench/smallint.py checks the same
    tick keeps every int below 2**30, so no long int is made on the ESP32 either)."""
    import steady

    app, tick = steady.build()
    for _ in range(20):
        tick()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(ticks):
        tick()
    alloc = gc.mem_alloc() - a
    gc.enable()
    assert all(app.ports[p].relay_on for p in range(app.n - 1)), "a session stopped"
    return alloc / ticks


def main():
    us, alloc, events = steady_state()
    print("control_us_per_port_tick %.2f us" % us)
    print("control_heap_bytes_per_tick %.1f bytes" % alloc)
    print("control_events_in_steady_state %d events" % events)
    print("control_heap_bytes_per_tick_2026 %.1f bytes" % device_month())


main()
