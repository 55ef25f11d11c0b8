# HLW8032 frames: the driver contract (decode) and the integer path (decode_into).
from hlw8032_emu import IPARAM, PPARAM, VPARAM, make_frame

from drivers import hlw8032 as h

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

VOLTS = (90.0, 110.0, 150.0, 200.0, 230.0, 245.0, 260.0)
AMPS = (0.02, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 8.0, 12.0, 16.0)

# Captured from real chips (ElectroDragon HLW8032 notes): a no-load 0xF2 frame with the
# power-updated bit clear, and a 0xFA frame (voltage + power overflow, nothing updated,
# current cycle register 0).
REAL_F2 = bytes([0xF2, 0x5A, 0x02, 0xE1, 0x80, 0x00, 0x06, 0x52, 0x00, 0x3E, 0xA8, 0x03,
                 0xA6, 0xC8, 0x4F, 0x9A, 0xE8, 0x5E, 0x79, 0x0B, 0x61, 0x00, 0x01, 0x27])
REAL_FA = bytes([0xFA, 0x5A, 0x02, 0xEE, 0xC8, 0xFE, 0xFF, 0x01, 0x00, 0x3F, 0x66, 0x00,
                 0x00, 0x00, 0x51, 0x21, 0x88, 0xFA, 0xDB, 0x29, 0x01, 0x00, 0x00, 0x54])


def _rel(a, b):
    return abs(a - b) / abs(b)


def _floored(x, milli_units):
    # decode_into floors x * 1000 (float rounding may put x a hair below an integer)
    return -1e-6 < x * 1000 - milli_units < 1.000001


def _u24(b, i):
    return (b[i] << 16) | (b[i + 1] << 8) | b[i + 2]


def _with(frame, state=None, upd=None):
    """A copy with the state or update byte replaced and the checksum kept valid."""
    b = bytearray(frame)
    if state is not None:
        b[0] = state  # not covered by the checksum
    if upd is not None:
        b[20] = upd
    b[23] = sum(b[2:23]) & 0xFF
    return bytes(b)


def test_formulas_within_0_1_percent_from_90_to_260_v_and_0_to_16_a():
    worst = 0.0
    for volts in VOLTS:
        for amps in AMPS:
            for pf in (1.0, 0.55):
                f = make_frame(volts, amps, pf=pf, pf_total=1234)
                r = h.decode(f)
                assert r is not None, (volts, amps)
                v, i, w, cnt, carry = r
                watts = volts * amps * pf
                worst = max(worst, _rel(v, volts), _rel(i, amps), _rel(w, watts))
                # exactly the datasheet formulas on the frame's registers
                assert v == _u24(f, 2) / _u24(f, 5) * 1.88
                assert i == _u24(f, 8) / _u24(f, 11) * 1.0
                assert w == _u24(f, 14) / _u24(f, 17) * 1.88 * 1.0
                assert (cnt, carry) == (1234, 0)
    assert worst < 0.001, worst


def test_zero_current_reads_zero_through_overflow_flags():
    f = make_frame(230.0, 0.0)
    assert f[0] == 0xF6  # current and power cycle overflow
    assert h.decode(f) == (h.decode(f)[0], 0.0, 0.0, 0, 0)
    assert _rel(h.decode(f)[0], 230.0) < 0.001


def test_no_load_f2_frame_is_a_normal_reading_with_power_zero():
    f = make_frame(230.0, 0.06, watts=0.0, pf_total=77)
    assert f[0] == 0xF2 and f[20] & 0x10 == 0
    v, i, w, cnt, carry = h.decode(f)
    assert _rel(v, 230.0) < 0.001 and _rel(i, 0.06) < 0.001
    assert w == 0.0 and cnt == 77 and carry == 0


def test_real_captured_frames():
    v, i, w, cnt, carry = h.decode(REAL_F2)
    assert abs(v - 188800 / 1618 * 1.88) < 1e-9  # 219.37 V
    assert abs(i - 16040 / 239304) < 1e-12  # 0.067 A of no-load current
    assert (w, cnt, carry) == (0.0, 1, 0)
    assert h.decode(REAL_FA) == (0.0, 0.0, 0.0, 0, 0)  # nothing updated, Icycle 0


def test_kv_and_ki_scale_the_readings():
    f = make_frame(230.0, 2.0, pf=1.0, kv=2.0, ki=0.5)
    v, i, w = h.decode(f, kv=2.0, ki=0.5)[:3]
    assert _rel(v, 230.0) < 0.001 and _rel(i, 2.0) < 0.001 and _rel(w, 460.0) < 0.001
    v2, i2 = h.decode(f)[:2]  # same registers read with the defaults
    assert abs(v2 / v - 1.88 / 2.0) < 1e-9 and abs(i2 / i - 2.0) < 1e-9


def test_none_for_every_invalid_frame_class():
    good = make_frame(230.0, 3.0, pf=0.9, pf_total=4321)
    assert h.decode(good) is not None
    # wrong length
    for bad in (b"", good[:23], good + b"\x00", good + good):
        assert h.decode(bad) is None, len(bad)
    # byte 1 not 0x5A
    for x in (0x00, 0x55, 0x5B, 0xA5, 0xFF):
        b = bytearray(good)
        b[1] = x
        assert h.decode(bytes(b)) is None, x
    # checksum mismatch: any bit of bytes 2..23 flipped
    for i in range(2, 24):
        for bit in (0, 3, 7):
            b = bytearray(good)
            b[i] ^= 1 << bit
            assert h.decode(bytes(b)) is None, (i, bit)
    # the checksum covers bytes 2..22 only (not the state byte)
    assert h.decode(_with(good, state=0x55)) is not None
    # chip not calibrated
    assert h.decode(_with(good, state=0xAA)) is None
    # coefficient storage fault, whatever the other flags
    for low in range(1, 16, 2):
        assert h.decode(_with(good, state=0xF0 | low)) is None, hex(0xF0 | low)


def test_every_abnormal_state_without_coefficient_fault_zeroes_flagged_values():
    good = make_frame(230.0, 3.0, pf=0.9, pf_total=0x1ABCD)  # counter wrapped once
    v0, i0, w0 = h.decode(good)[:3]
    for low in range(0, 16, 2):
        v, i, w, cnt, carry = h.decode(_with(good, state=0xF0 | low))
        assert v == (0.0 if low & 8 else v0), hex(low)
        assert i == (0.0 if low & 4 else i0), hex(low)
        assert w == (0.0 if low & 2 else w0), hex(low)
        assert (cnt, carry) == (0xABCD, 1)


def test_cleared_updated_bits_zero_their_values():
    good = make_frame(230.0, 3.0, pf=0.9, pf_total=0x10005)
    v0, i0, w0 = h.decode(good)[:3]
    for upd in range(0, 0x100, 0x10):
        v, i, w, cnt, carry = h.decode(_with(good, upd=upd))
        assert v == (v0 if upd & 0x40 else 0.0)
        assert i == (i0 if upd & 0x20 else 0.0)
        assert w == (w0 if upd & 0x10 else 0.0)
        assert cnt == 5 and carry == upd >> 7


def test_decode_into_matches_decode_to_the_unit():
    out = h.new_out()
    for volts in VOLTS:
        for amps in AMPS + (0.0,):
            f = make_frame(volts, amps, pf=0.8, pf_total=0x1FFFF)
            assert h.decode_into(f, 0, out) == h.OK
            v, i, w, cnt, carry = h.decode(f)
            # floored integers: within one unit of the float reading
            assert _floored(v, out[h.V_MV]), (v, out[h.V_MV])
            assert _floored(i, out[h.I_MA]), (i, out[h.I_MA])
            assert _floored(w, out[h.P_MW]), (w, out[h.P_MW])
            assert out[h.PF_COUNT] == cnt == 0xFFFF and out[h.PF_CARRY] == carry == 1
            assert out[h.P_PARAM] == PPARAM and out[h.STATE] == f[0]


def test_decode_into_status_codes_and_offset():
    f = make_frame(230.0, 1.0)
    buf = bytearray(b"\x00\x01\x02") + f + b"\x09"
    out = h.new_out()
    assert h.decode_into(buf, 3, out) == h.OK
    assert abs(out[h.V_MV] - 230000) < 230 and abs(out[h.I_MA] - 1000) < 1
    marker = list(out)
    assert h.decode_into(buf, 4, out) == h.E_HEADER
    assert h.decode_into(buf, 5, out) == h.E_LENGTH
    assert h.decode_into(f[:20], 0, out) == h.E_LENGTH
    b = bytearray(f)
    b[10] ^= 0x40
    assert h.decode_into(b, 0, out) == h.E_CHECKSUM
    assert h.decode_into(_with(f, state=0xAA), 0, out) == h.E_STATE
    assert h.decode_into(_with(f, state=0xF3), 0, out) == h.E_STATE
    assert list(out) == marker  # untouched on errors


def test_integer_readings_with_other_coefficients():
    out = h.new_out()
    for kv, ki in ((1.88, 1.0), (2.0, 0.5), (1.5, 12.5), (1.0, 0.001)):
        f = make_frame(240.0, 7.0, pf=0.7, kv=kv, ki=ki)
        assert h.decode_into(f, 0, out, h.milli(kv), h.milli(ki)) == h.OK
        v, i, w = h.decode(f, kv, ki)[:3]
        assert _floored(v, out[h.V_MV])
        assert _floored(i, out[h.I_MA])
        assert _floored(w, out[h.P_MW]), (kv, ki, w, out[h.P_MW])


def test_muldiv_is_exact_floor_at_the_register_extremes():
    big = (1 << 24) - 1
    cases = [(big, 1880, big, 1), (big, 1880000, 1, 1000), (1, 1, big, 1),
             (VPARAM, 1880, 1618, 1), (IPARAM, 1000, 1000, 1), (PPARAM, 1880000, 2259, 1000),
             (PPARAM, 12345678, 7, 1000), (0, 1880, 5, 1), (big, 0, 3, 1)]
    x = 12345
    for _ in range(300):  # and a spread of pseudo-random ones (LCG, same on both VMs)
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        cases.append((x & big, (x >> 3) & 0xFFFFF, (x >> 7 & big) or 1, (1, 1000)[x & 1]))
    for a, b, d, s in cases:
        assert h._muldiv(a, b, d, s) == a * b // (d * s), (a, b, d, s)
