# Debounced inputs on the virtual clock: glitches shorter than debounce_ms never show.
import machine
from vclock import CLOCK

from drivers.inputs import Debounced

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

PIN = 35
WRAP_US = 600000000  # the virtual clock's ticks_ms wraps here


def _input(debounce_ms=50, active_low=False, idle=None):
    machine.reset_board()
    if idle is None:
        idle = 1 if active_low else 0
    machine.Pin.drive(PIN, idle)
    return Debounced(machine.Pin(PIN, machine.Pin.IN), CLOCK, debounce_ms, active_low)


def _run(inp, ms, level=None):
    """Hold the pin at `level` for `ms`, polling every 1 ms; count reported changes."""
    if level is not None:
        machine.Pin.drive(PIN, level)
    changes = 0
    for _ in range(ms):
        if inp.update():
            changes += 1
        CLOCK.advance_ms(1)
    return changes


def test_glitches_shorter_than_debounce_are_rejected():
    inp = _input(debounce_ms=50)
    _run(inp, 100)
    for width in (1, 2, 5, 10, 30, 49):
        assert _run(inp, width, 1) == 0, width
        assert _run(inp, 60, 0) == 0
    assert not inp.active


def test_a_held_level_is_reported_once_after_debounce():
    inp = _input(debounce_ms=50)
    _run(inp, 10)
    machine.Pin.drive(PIN, 1)
    edge = CLOCK.ticks_ms()
    seen_at = None
    for _ in range(200):
        if inp.update():
            assert seen_at is None, "reported twice"
            seen_at = CLOCK.ticks_ms()
        CLOCK.advance_ms(1)
    assert inp.active
    assert 50 <= CLOCK.ticks_diff(seen_at, edge) <= 51
    assert inp.since_ms == seen_at
    assert _run(inp, 100, 0) == 1 and not inp.active


def test_bouncing_contact_gives_one_change():
    inp = _input(debounce_ms=30)
    for i in range(12):  # 2 ms bounces for 24 ms, then closed
        assert _run(inp, 2, i & 1 ^ 1) == 0
    assert _run(inp, 100, 1) == 1
    assert inp.active


def test_active_low_with_pull_up():
    inp = _input(debounce_ms=20, active_low=True)
    assert _run(inp, 50) == 0 and not inp.active  # idle high: not asserted
    assert _run(inp, 50, 0) == 1 and inp.active  # pulled low: smoke detector relay closed
    assert inp.raw()


def test_input_active_at_start_is_reported_after_debounce():
    inp = _input(debounce_ms=50, idle=1)
    assert _run(inp, 49) == 0
    assert _run(inp, 5) == 1 and inp.active


def test_debounce_across_ticks_wrap():
    CLOCK.us = WRAP_US - 20000
    inp = _input(debounce_ms=50)
    assert _run(inp, 40, 1) == 0
    assert _run(inp, 20) == 1  # the wrap fell inside the debounce interval
    assert inp.active
