# 3x4 matrix keypad: every key decodes, bounce and glitches shorter than the debounce
# are ignored, a held key is reported once.
import machine
from keypad_model import KeypadModel
from vclock import CLOCK

from drivers.keypad import Keypad

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

ROWS = (12, 13, 14, 27)
COLS = (32, 33, 25)
TICK_MS = 5  # control tick used here
WRAP_US = 600000000


def _keypad(debounce_ms=30):
    machine.reset_board()
    model = KeypadModel(ROWS, COLS)
    kp = Keypad([machine.Pin(r) for r in ROWS], [machine.Pin(c) for c in COLS], CLOCK,
                debounce_ms=debounce_ms)
    return model, kp


def _run(kp, ms):
    """Scan every TICK_MS for ms; the keys reported with their ms offsets."""
    out = []
    for t in range(0, ms, TICK_MS):
        k = kp.scan()
        if k is not None:
            out.append((k, t))
        CLOCK.advance_ms(TICK_MS)
    return out


def test_every_key_decodes():
    model, kp = _keypad()
    for key in "123456789*0#":
        model.press(key, 100)
        got = _run(kp, 200)
        assert [k for k, t in got] == [key], (key, got)
        assert 30 <= got[0][1] <= 30 + 2 * TICK_MS  # debounce plus at most two ticks


def test_rows_open_drain_idle_high_and_columns_pulled_up():
    _model, kp = _keypad()
    for r in ROWS:
        p = machine._pins[r]
        assert p.mode == machine.Pin.OPEN_DRAIN and p.value() == 1
    for c in COLS:
        assert machine._pins[c].pull == machine.Pin.PULL_UP
    assert kp.raw() == -1
    for r in ROWS:
        assert machine.Pin.level(r) == 1  # a scan leaves every row released


def test_glitches_shorter_than_debounce_are_ignored():
    model, kp = _keypad(debounce_ms=30)
    for ms in (1, 5, 10, 20, 25):
        model.press("5", ms)
        assert _run(kp, 100) == [], ms
    model.press("7", 0, bounce_ms=20)  # chatter only, never settles closed
    assert _run(kp, 100) == []


def test_bouncing_press_is_reported_once():
    model, kp = _keypad(debounce_ms=30)
    for key, bounce in (("1", 5), ("0", 10), ("#", 20)):
        model.press(key, 150, bounce_ms=bounce)  # chatter at make and at break
        got = _run(kp, 300)
        assert [k for k, t in got] == [key], (key, got)
        assert got[0][1] <= bounce + 30 + 2 * TICK_MS


def test_held_key_reported_once_then_again_after_release():
    model, kp = _keypad()
    model.press("8", 3000, bounce_ms=5)
    got = _run(kp, 2000)
    assert got == [("8", got[0][1])] and kp.held() == "8"
    assert _run(kp, 1100) == [] and kp.held() is None
    model.press("8", 120)
    assert [k for k, t in _run(kp, 200)] == ["8"]


def test_quick_sequence_and_two_keys_at_once():
    model, kp = _keypad()
    model.press("1", 80)
    model.press("2", 80, after_ms=120)
    model.press("3", 80, after_ms=240)
    assert [k for k, t in _run(kp, 400)] == ["1", "2", "3"]
    model.press("4", 300)
    model.press("6", 100)  # 4 and 6 together: nothing, then 4 alone once 6 is up
    got = _run(kp, 400)
    assert [k for k, t in got] == ["4"] and got[0][1] >= 100


def test_model_contacts_chatter_only_within_bounce():
    model, _ = _keypad()
    model.press("5", 100, bounce_ms=10)
    states = []
    for _ in range(480):  # 120 ms in 250 us steps
        states.append(bool(model.closed_keys()))
        CLOCK.advance_us(250)
    flips = [i for i in range(1, 480) if states[i] != states[i - 1]]
    assert len([i for i in flips if i < 40]) >= 4  # make bounce: first 10 ms
    assert all(i <= 40 or 400 <= i <= 440 for i in flips)  # steady closed in between
    assert states[200] and not states[-1]


def test_idle_scan_allocates_nothing():
    # MicroPython only: a scan with no key down must not allocate (every control tick).
    import gc

    if not hasattr(gc, "mem_alloc"):
        return

    class Io:
        OPEN_DRAIN = 7
        IN = 1
        PULL_UP = 2

        def init(self, *a, **kw):
            pass

        def value(self, v=None):
            return 1

    kp = Keypad([Io() for _ in ROWS], [Io() for _ in COLS], CLOCK)
    kp.scan()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        kp.scan()
        CLOCK.advance_ms(1)
    assert gc.mem_alloc() - before == 0


def test_debounce_across_ticks_wrap():
    CLOCK.us = WRAP_US - 20000
    model, kp = _keypad()
    model.press("9", 100)
    got = _run(kp, 200)
    assert [k for k, t in got] == ["9"] and 30 <= got[0][1] <= 40
