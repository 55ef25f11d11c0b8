"""Property tests of the HLW8032 driver (CPython + hypothesis).

The stream reader finds every frame whatever the garbage around it and never raises;
the integer path agrees exactly with big-int arithmetic and, for realistic registers,
never holds an int the ESP32 would have to put on the heap (>= 2**30).
"""

import random
import sys

from hlw8032_emu import PPARAM, make_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import hlw8032 as h

SMALL_INT = 1 << 30  # MicroPython small ints on the ESP32 are 31-bit signed
PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _frame(k):
    return make_frame(90.0 + (k * 7) % 170, 0.05 + (k * 13) % 160 / 10.0, pf=0.6 + k % 5 / 10,
                      pf_total=k)


def _feed(reader, data, cuts):
    """Feed data in pieces cut at the given (sorted, deduplicated) offsets."""
    i = 0
    for c in sorted(set(cuts)) + [len(data)]:
        if c > i:
            reader.feed(data[i:c])
            i = c


frames_and_garbage = st.lists(
    st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=60)), min_size=1, max_size=25)


@PROPS
@given(frames_and_garbage, st.lists(st.integers(0, 2000), max_size=30))
def test_every_frame_found_with_random_garbage_between(items, cuts):
    # Garbage without 0x5A cannot forge a header: every frame, in order, nothing else.
    data = bytearray()
    want = []
    for k, junk in items:
        data += junk.replace(b"\x5a", b"\x5b")
        data += _frame(k)
        want.append(k)
    r = h.StreamReader()
    seen = []
    r.on_frame = lambda b: seen.append((b[21] << 8) | b[22])
    _feed(r, bytes(data), cuts)
    assert seen == want
    assert r.frames == len(want)


@PROPS
@given(frames_and_garbage, st.lists(st.integers(0, 2000), max_size=30))
def test_with_any_garbage_a_frame_is_lost_only_to_a_forged_one(items, cuts):
    # Arbitrary garbage can forge a header + checksum (about 1 in 2**24 per byte); a real
    # frame is then only lost if a forged "frame" was accepted in its place.
    data = bytearray()
    want = []
    for k, junk in items:
        data += junk
        data += _frame(k)
        want.append(k)
    r = h.StreamReader()
    seen = []
    r.on_frame = lambda b: seen.append(bytes(b))
    _feed(r, bytes(data), cuts)
    real = [f for f in seen if f in {_frame(k) for k in want}]
    forged = len(seen) - len(real)
    assert len(real) >= len(want) - forged


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 3000), min_size=1, max_size=40))
def test_never_raises_on_100000_random_bytes(seed, chunk_sizes):
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(100000))
    r = h.StreamReader()
    buf = bytearray(3000)
    i = 0
    j = 0
    while i < len(data):
        k = min(chunk_sizes[j % len(chunk_sizes)], len(data) - i)
        buf[:k] = data[i:i + k]
        r.feed(buf, k)
        i += k
        j += 1
    windows = r.frames + r.checksum_errors + r.sync_misses + r.abnormal
    assert r.skipped + 24 * windows <= len(data) + 24 * r.checksum_errors
    assert r.frames >= 0 and r._n < 24
    r.feed(_frame(5) + _frame(6))
    assert r.values[h.PF_COUNT] in (5, 6)


u24 = st.integers(0, (1 << 24) - 1)


@PROPS
@given(st.integers(0, 255), u24, u24, u24, u24, u24, u24, st.integers(0, 255), u24,
       st.sampled_from([(1.88, 1.0), (2.0, 0.5), (1.5, 12.5), (1.0, 1.0)]))
def test_decode_into_is_the_exact_floor_and_agrees_with_decode(state, vp, vc, ip, ic, pp,
                                                               pc, upd, pf, coeffs):
    kv, ki = coeffs
    b = bytearray(24)
    b[0], b[1], b[20], b[21], b[22] = state, 0x5A, upd, pf >> 16, (pf >> 8) & 0xFF
    for i, v in ((2, vp), (5, vc), (8, ip), (11, ic), (14, pp), (17, pc)):
        b[i:i + 3] = v.to_bytes(3, "big")
    b[23] = sum(b[2:23]) & 0xFF
    out = h.new_out()
    status = h.decode_into(b, 0, out, h.milli(kv), h.milli(ki))
    r = h.decode(bytes(b), kv, ki)
    assert (status == h.OK) == (r is not None)
    if r is None:
        assert state == 0xAA or (state >> 4 == 0xF and state & 1)
        return
    kv_m, ki_m = h.milli(kv), h.milli(ki)
    flags = state & 0x0F if state >> 4 == 0xF else 0

    def want(par, cyc, k, s, bit, ovf):
        if not upd & bit or flags & ovf or cyc == 0:
            return 0
        return min(par * k // (cyc * s), 0x3FFFFFFF)

    assert out[h.V_MV] == want(vp, vc, kv_m, 1, 0x40, 8)
    assert out[h.I_MA] == want(ip, ic, ki_m, 1, 0x20, 4)
    assert out[h.P_MW] == want(pp, pc, kv_m * ki_m, 1000, 0x10, 2)
    assert (out[h.PF_COUNT], out[h.PF_CARRY]) == (r[3], r[4]) == (b[21] << 8 | b[22],
                                                                  upd >> 7)
    for got, x in zip((out[h.V_MV], out[h.I_MA], out[h.P_MW]), r[:3]):
        assert got == 0x3FFFFFFF or abs(x * 1000 - got) <= 1 + x * 1e-9


def _peak_int(fn, *args):
    """Call fn and return the largest |int| any of its local variables ever held."""
    code = fn.__code__
    peak = [0]

    def local(frame, event, arg):
        for v in list(frame.f_locals.values()) + ([arg] if event == "return" else []):
            if type(v) is int:
                peak[0] = max(peak[0], abs(v))
        return local

    def glob(frame, event, arg):
        return local if frame.f_code is code else None

    sys.settrace(glob)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return peak[0]


def test_the_peak_tracer_sees_big_intermediates():
    assert _peak_int(h._muldiv, (1 << 24) - 1, 1880000, 1, 1) >= SMALL_INT


@PROPS
@given(u24, st.integers(1, (1 << 24) - 1), st.integers(100, 20000),
       st.integers(100, 20000), st.sampled_from(["v", "i", "p"]))
def test_muldiv_stays_in_esp32_small_ints_for_sane_results(a, d, kv_m, ki_m, which):
    b, s = {"v": (kv_m, 1), "i": (ki_m, 1), "p": (kv_m * ki_m, 1000)}[which]
    want = a * b // (d * s)
    assert h._muldiv(a, b, d, s) == want
    if want < 1 << 25:  # 33 kV, 33 kA, 33 MW: anything a real frame can mean
        assert _peak_int(h._muldiv, a, b, d, s) < SMALL_INT


@PROPS
@given(st.integers(1, (1 << 24) - 1), st.sampled_from([(1.88, 1.0), (2.0, 1.5), (1.88, 10.0)]),
       st.lists(st.integers(0, 131071), min_size=1, max_size=30))
def test_energy_exact_and_small_ints_over_any_pulse_deltas(pparam, coeffs, deltas):
    kv, ki = coeffs
    e = h.PulseEnergy(kv, ki, max_w=10 ** 12)
    e.update(0, 0, pparam, -1)
    total = 0
    for d in deltas:
        total += d
        e.update(total & 0xFFFF, (total >> 16) & 1, pparam, 600000)
    kp = h.milli(kv) * h.milli(ki) // 1000
    assert e.pulses == total
    assert e.mwh == total * pparam * kp // 3600000000
    probe = h.PulseEnergy(kv, ki)
    probe._set_pparam(pparam)
    probe._uwh, probe._rem = 999, 3599999  # worst-case carries
    assert _peak_int(probe._add, max(deltas)) < SMALL_INT


@PROPS
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(200, 5000)), min_size=1,
                max_size=40))
def test_realistic_readings_never_rejected_as_jumps(steps):
    # up to 5 kW (510 pulses/s) read every 0.2-5 s: every pulse is kept
    e = h.PulseEnergy(max_w=5000)
    e.update(0, 0, PPARAM, -1)
    total = 0
    for watts, ms in steps:
        n = watts * ms * 1000000 // (PPARAM * 1880)  # pulses of 2.724 mWh in ms at watts
        total += n
        assert e.update(total & 0xFFFF, (total >> 16) & 1, PPARAM, ms) == n
    assert e.jumps == 0 and e.pulses == total
