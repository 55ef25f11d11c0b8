# HLW8032 stream reader: framing, re-synchronisation and counters; the emulator as a
# UART source at 4800 8E1.
import machine
from hlw8032_emu import HLW8032Emu, make_frame
from vclock import CLOCK

from drivers import hlw8032 as h

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


class _Lcg:
    """Pseudo-random bytes, identical on CPython and MicroPython."""

    def __init__(self, seed):
        self.x = seed

    def byte(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 16) & 0xFF


def _frames(n, first_pf=100):
    # distinct PF counts so each found frame can be told apart
    return [make_frame(200.0 + k, 1.0 + k * 0.1, pf=0.9, pf_total=first_pf + k)
            for k in range(n)]


def _collect(reader):
    seen = []
    reader.on_frame = lambda b: seen.append((b[21] << 8) | b[22])
    return seen


def _feed_in_chunks(reader, data, sizes):
    buf = bytearray(64)
    i = 0
    j = 0
    while i < len(data):
        k = min(sizes[j % len(sizes)], len(data) - i, 64)
        buf[:k] = data[i:i + k]
        reader.feed(buf, k)
        i += k
        j += 1


def test_clean_stream_yields_every_frame_whatever_the_chunking():
    fs = _frames(40)
    data = b"".join(fs)
    for sizes in ((1,), (7,), (24,), (64,), (5, 30, 1, 64, 23)):
        r = h.StreamReader()
        seen = _collect(r)
        _feed_in_chunks(r, data, sizes)
        assert seen == list(range(100, 140)), sizes
        assert (r.frames, r.checksum_errors, r.sync_misses, r.skipped) == (40, 0, 0, 0)
    assert r.values[h.PF_COUNT] == 139 and abs(r.values[h.V_MV] - 239000) < 240


def test_garbage_between_frames_every_frame_found():
    rnd = _Lcg(7)
    fs = _frames(60)
    data = bytearray()
    for k, f in enumerate(fs):
        for _ in range(k % 37):  # 0..36 garbage bytes, including 0x55 0x5A look-alikes
            data.append(rnd.byte())
        if k % 5 == 0:
            data.extend(b"\x55\x5a\x02")  # a false header right before the frame
        data.extend(f)
    r = h.StreamReader()
    seen = _collect(r)
    _feed_in_chunks(r, data, (13,))
    assert seen == list(range(100, 160))
    assert r.frames == 60 and r.skipped > 0


def test_lost_byte_costs_exactly_one_frame():
    fs = _frames(10)
    data = b"".join(fs)
    cut = 3 * 24 + 9
    data = data[:cut] + data[cut + 1:]  # a byte of frame 3 never arrives
    r = h.StreamReader()
    seen = _collect(r)
    r.feed(data)
    assert seen == [100, 101, 102] + list(range(104, 110))
    assert r.checksum_errors == 1


def test_bad_checksum_and_abnormal_states_are_counted_not_returned():
    fs = [bytearray(f) for f in _frames(8)]
    fs[2][23] ^= 0x10  # checksum
    fs[4][0] = 0xAA  # not calibrated
    fs[5][0] = 0xF3  # coefficient fault (+ power overflow)
    fs[6][0] = 0xF2  # no load: usable
    r = h.StreamReader()
    seen = _collect(r)
    r.feed(b"".join(bytes(f) for f in fs))
    assert seen == [100, 101, 103, 106, 107]
    assert (r.frames, r.checksum_errors, r.abnormal) == (5, 1, 2)


def test_reset_discards_the_partial_frame_and_cut_frames_are_sync_misses():
    f0, f1, f2 = _frames(3)
    r = h.StreamReader()
    seen = _collect(r)
    r.feed(f0[:15])
    r.reset()  # the multiplexer switched: the next bytes belong to another meter
    r.feed(f1 + f2)
    assert seen == [101, 102] and r.checksum_errors == 0
    # the tail of a cut frame holding a false header fails as a sync miss, not an error
    tail = bytearray(f0[14:])
    tail[2:4] = b"\x55\x5a"
    r.reset()
    r.feed(bytes(tail) + f1 + f2)
    assert seen == [101, 102, 101, 102]
    assert r.sync_misses == 1 and r.checksum_errors == 0


def test_never_raises_on_random_bytes_and_counters_add_up():
    rnd = _Lcg(99)
    r = h.StreamReader()
    buf = bytearray(50)
    fed = 0
    for _ in range(400):
        for i in range(50):
            buf[i] = rnd.byte()
        r.feed(buf)
        fed += 50
    r.feed(b"")
    r.feed(buf, 0)
    r.feed(buf, 999)  # n beyond the buffer: the buffer
    # every byte is either skipped, part of a finished window or still pending
    windows = r.frames + r.checksum_errors + r.sync_misses + r.abnormal
    assert r.skipped <= fed + 100 and windows * 24 <= fed + 100 + r.skipped
    good = make_frame(230.0, 1.0)
    n = r.frames
    r.feed(good + good)  # and it still finds frames afterwards
    assert r.frames >= n + 1


def _uart(**line):
    machine.reset_board()
    kw = {"baudrate": 4800, "bits": 8, "parity": 0, "stop": 1}
    kw.update(line)
    return machine.UART(1, rxbuf=256, tx=17, rx=16, **kw)


def _read_for(uart, reader, ms, tick_ms=10):
    buf = bytearray(64)
    for _ in range(ms // tick_ms):
        CLOCK.advance_ms(tick_ms)
        k = uart.any()
        if k:
            reader.feed(buf, uart.readinto(buf, min(k, 64)))


def test_emulator_streams_back_to_back_frames_at_4800_8e1():
    u = _uart()
    e = HLW8032Emu(volts=231.0, amps=6.5, pf=0.9, phase_us=12345)
    u.source = e
    r = h.StreamReader()
    _read_for(u, r, 5500)
    assert 99 <= r.frames <= 100  # 55 ms a frame
    assert (r.checksum_errors, r.abnormal) == (0, 0) and r.skipped < 24
    v = r.values
    assert abs(v[h.V_MV] - 231000) < 231 and abs(v[h.I_MA] - 6500) < 7
    assert abs(v[h.P_MW] - 231 * 6.5 * 0.9 * 1000) < 1352
    # 1351 W for 5.5 s is 2.065 Wh: 758 pulses of 2.724 mWh
    assert v[h.PF_COUNT] <= e.pulses
    e.sync()
    assert abs(e.pulses - 758) <= 1 and abs(e.energy_wh() - 2.0646) < 0.0001


def test_no_load_emulator_sends_f2_frames():
    u = _uart()
    e = HLW8032Emu(volts=229.0, amps=0.03, watts=0.0)
    u.source = e
    r = h.StreamReader()
    _read_for(u, r, 600)
    assert r.frames >= 9 and r.values[h.STATE] == 0xF2 and r.values[h.P_MW] == 0
    assert abs(r.values[h.I_MA] - 30) <= 1


def test_wrong_line_settings_get_no_frames():
    for line in ({"parity": None}, {"parity": 1}, {"baudrate": 9600}, {"bits": 7},
                 {"stop": 2}):
        u = _uart(**line)
        u.source = HLW8032Emu(volts=230.0, amps=1.0)
        r = h.StreamReader()
        _read_for(u, r, 2000)
        assert r.frames == 0, line


def test_emulator_fault_knobs():
    u = _uart()
    e = HLW8032Emu(volts=230.0, amps=1.0, phase_us=500)
    u.source = e
    r = h.StreamReader()
    e.silent = True
    CLOCK.advance_ms(1000)
    assert u.any() == 0
    e.silent = False
    e.garbage = True
    _read_for(u, r, 2000)
    assert r.frames == 0 and r.skipped > 300
    e.garbage = False
    e.corrupt_p = 0.5
    r = h.StreamReader()
    _read_for(u, r, 5500)
    assert r.frames + r.checksum_errors + r.sync_misses >= 98
    assert 30 <= r.checksum_errors <= 70 and abs(r.checksum_errors - e.corrupted) <= 2
    e.corrupt_p = 0.0
    e.drop_p = 0.01  # about one lost byte every 4 frames: one frame lost each time
    r = h.StreamReader()
    _read_for(u, r, 5500)
    assert 55 <= r.frames <= 95 and r.checksum_errors >= 5
