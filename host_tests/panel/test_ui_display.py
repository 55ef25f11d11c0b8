# The bounded refresh (at most one page on the bus per step, only changed pages), the
# virtual SSD1306 decoding the real driver's bytes, the PNG writer and the beeper.
import struct

import machine
import png
import ui_scenes
from oled_model import OledModel
from vclock import CLOCK

from firmware.panel import ui
from firmware.panel import ui_text as T
from firmware.panel.beeper import PATTERNS, Beeper
from firmware.panel.display import Display

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

PAGE = 128
IDLE = ("sim-001", 7, 10, 8 * 60 + 5)
# One page push on the 400 kHz bus: 3 one-byte commands (control + command + address
# byte, 9 bits each, plus start/stop: 29 bits = 72 us) and 128 data bytes (130 bytes:
# 1172 bits = 2930 us): 3146 us.
PUSH_US = 3 * 72 + 2930


def _display(lang="zh"):
    model, drv = ui_scenes.panel()
    return model, drv, Display(drv, ui.Ui(drv, lang), CLOCK)


def _settle(disp, model, limit=40):
    """Step until nothing is left; [(page or -1, data bytes sent, bus us)] per step."""
    out = []
    for _ in range(limit):
        if not disp.busy():
            return out
        d0 = model.data_bytes
        t0 = CLOCK.us
        p = disp.step()
        out.append((p, model.data_bytes - d0, CLOCK.us - t0))
    raise AssertionError("display never settled")


def _diff_pages(a, b):
    return sum(1 for p in range(8) if a[p * PAGE:(p + 1) * PAGE] != b[p * PAGE:(p + 1) * PAGE])


def test_at_most_one_page_per_step_and_the_glass_matches():
    model, drv, disp = _display()
    disp.show(T.IDLE, IDLE)
    steps = _settle(disp, model)
    assert steps[0][:2] == (-1, 0)  # the redraw step sends nothing
    for p, nbytes, us in steps:
        assert nbytes in (0, PAGE), steps
        assert us <= PUSH_US + 3 * 72, (p, us)  # the first push also sets the columns
    pushed = [p for p, _, _ in steps if p >= 0]
    assert pushed == sorted(set(pushed))  # each page once, in order
    assert bytes(model.image()) == bytes(drv.buffer)
    assert len(steps) <= 1 + 8


def test_push_time_on_the_virtual_400_khz_bus():
    model, drv, disp = _display()
    disp.show(T.SESSION, (2, 3723, 123456, 789, {"minutes": 240}, "charging"))
    times = [us for p, n, us in _settle(disp, model) if n]
    assert times[1:] and all(us == PUSH_US for us in times[1:]), times
    assert PUSH_US < 3200  # about 3 ms per step, against 23 ms for a whole show()


def test_same_content_is_not_redrawn_and_a_change_sends_only_changed_pages():
    model, drv, disp = _display()
    disp.show(T.IDLE, IDLE)
    _settle(disp, model)
    renders, pushes = disp.renders, disp.pushes
    disp.show(T.IDLE, ("sim-001", 7, 10, 8 * 60 + 5))  # equal, not the same object
    assert not disp.busy()
    assert _settle(disp, model) == [] and disp.renders == renders
    before = bytes(drv.buffer)
    disp.show(T.IDLE, ("sim-001", 7, 10, 8 * 60 + 6))  # the minute changes
    _settle(disp, model)
    changed = _diff_pages(before, bytes(drv.buffer))
    assert disp.pushes - pushes == changed == 1  # the clock row: one page
    assert bytes(model.image()) == bytes(drv.buffer)


def test_a_screen_change_mid_push_starts_over_and_ends_right():
    model, drv, disp = _display()
    disp.show(T.IDLE, IDLE)
    disp.step()
    disp.step()
    disp.step()  # two pages of the idle screen are on the glass
    disp.show(T.MSG, (T.STARTED, 2))
    _settle(disp, model)
    assert bytes(model.image()) == bytes(drv.buffer)


def test_bus_error_backs_off_then_resends_every_page():
    model, drv, disp = _display()
    disp.show(T.IDLE, IDLE)
    disp.step()
    machine.I2C._devices.pop(ui_scenes.ADDR)  # the panel stops answering (no ACK)
    assert disp.step() == -1 and disp.errors == 1
    machine.I2C.attach(ui_scenes.ADDR, model)
    t0 = CLOCK.us
    for _ in range(5):
        assert disp.step() == -1  # holding off for 1 s
    CLOCK.advance_ms(1000)
    model.ram[:] = bytes(len(model.ram))  # whatever the panel held is unknown
    steps = _settle(disp, model)
    assert sum(1 for s in steps if s[1]) == 8  # all pages, even blank ones
    assert bytes(model.image()) == bytes(drv.buffer) and CLOCK.us - t0 >= 1000000


def test_a_drawing_error_shows_a_message_instead_of_stopping_the_loop():
    model, drv, disp = _display("en")
    disp.show(T.SESSION, (1, "not a number"))
    _settle(disp, model)
    assert disp.errors == 1
    ref = ui_scenes.render_all("en", scenes=(("f", T.MSG, (T.FAILED, None)),))[0][1]
    assert bytes(model.image()) == ref


def test_oled_model_follows_the_datasheet_addressing_modes():
    machine.reset_board()
    m = OledModel()
    i2c = machine.I2C(0)
    machine.I2C.attach(0x3C, m)
    i2c.writeto(0x3C, b"\x00\xaf\x20\x02\xb3\x05\x11")  # on; page mode; page 3, column 0x15
    i2c.writeto(0x3C, b"\x40\x01\x02")
    assert m.on and m.ram[3 * 128 + 0x15] == 1 and m.ram[3 * 128 + 0x16] == 2
    i2c.writeto(0x3C, b"\x00\x20\x01\x21\x0a\x0b\x22\x06\x07")  # vertical, 2x2 window
    i2c.writeto(0x3C, b"\x40\x11\x12\x13\x14\x15")
    assert [m.ram[6 * 128 + 10], m.ram[7 * 128 + 10], m.ram[6 * 128 + 11],
            m.ram[7 * 128 + 11], m.ram[6 * 128 + 10]] == [0x15, 0x12, 0x13, 0x14, 0x15]
    i2c.writeto(0x3C, b"\x80\xa7\xc0\x55")  # Co=1 command, then one Co=1 data byte
    assert m.inverted and m.ram[7 * 128 + 10] == 0x55  # where the pointer had wrapped to
    m.ram[:] = bytes(1024)
    m.seg_remap = m.com_reverse = True
    assert m.image() == bytearray(b"\xff" * 1024)  # inverted: all lit
    i2c.writeto(0x3C, b"\x00\xae")
    assert m.image() == bytearray(1024)  # off: dark


def test_png_has_valid_chunks_and_decodes_to_the_frame():
    buf = bytearray(128 * 8)
    buf[0] = 0x01  # pixel (0, 0)
    buf[127 + 7 * 128] = 0x80  # pixel (127, 63)
    data = png.encode(buf, 128, 64, scale=3)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import binascii

    i = 8
    chunks = []
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        kind = data[i + 4:i + 8]
        body = data[i + 8:i + 8 + n]
        crc = struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0]
        assert binascii.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        i += 12 + n
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBB", chunks[0][1][:10]) == (384, 192, 1, 0)
    raw = _inflate(chunks[1][1])
    assert len(raw) == 192 * (1 + 48)
    assert raw[0] == 0 and raw[1] == 0xE0  # row 0: filter 0, pixels 0-2 (scaled x3) white
    last = raw[-49:]
    assert last[-1] == 0x07 and sum(last[1:-1]) == 0
    assert png.adler32(b"Wikipedia") == 0x11E60398  # RFC 1950's example value
    grey = png.encode(buf, 128, 64, grey=True)
    assert grey[24] == 8  # IHDR bit depth: 8-bit grey
    big = png.zlib_stored(bytes(70000))  # two stored blocks
    assert _inflate(big) == bytes(70000)


def _inflate(z):
    try:
        import zlib

        return zlib.decompress(z)
    except ImportError:  # MicroPython
        import io

        import deflate

        return deflate.DeflateIO(io.BytesIO(z), deflate.ZLIB).read()


def test_beeper_plays_patterns_without_blocking():
    machine.reset_board()
    seen = []
    machine.Pin.watch(25, lambda pid, v: seen.append((CLOCK.us // 1000, v)))
    pin = machine.Pin(25, machine.Pin.OUT)
    b = Beeper(pin, CLOCK)
    t0 = CLOCK.us // 1000
    assert b.play("start")  # 80 on, 80 off, 80 on
    for _ in range(60):
        CLOCK.advance_ms(5)
        b.step()
    edges = [(t - t0, v) for t, v in seen if t >= t0]
    assert edges == [(0, 1), (80, 0), (160, 1), (240, 0)], edges
    assert b.name is None and pin.value() == 0


def test_alarm_repeats_until_stopped_and_is_not_interrupted():
    machine.reset_board()
    pin = machine.Pin(26, machine.Pin.OUT)
    b = Beeper(pin, CLOCK, active_high=False)
    assert pin.value() == 1  # active low: silent is high
    assert b.play("alarm")
    ons = 0
    last = pin.value()
    for _ in range(500):  # 5 s
        CLOCK.advance_ms(10)
        b.step()
        if pin.value() != last and pin.value() == 0:
            ons += 1
        last = pin.value()
        assert not b.play("swipe")  # an alarm is not cut short by a swipe beep
    assert ons == 5 and b.name == "alarm"
    b.stop()
    assert pin.value() == 1 and b.play("swipe")
    assert sorted(PATTERNS) == ["alarm", "key", "refusal", "start", "swipe"]
