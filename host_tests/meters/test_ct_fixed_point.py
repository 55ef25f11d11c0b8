"""The CT driver's integer RMS equals the exact RMS of the samples it took (CPython)."""

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from vclock import CLOCK

from drivers.ct import CT, _isqrt


class _ListADC:
    """An ADC returning 12-bit codes from a list (as read_u16 does), 40 us per read."""

    def __init__(self, codes):
        self.codes = codes
        self.taken = []

    def read_u16(self):
        CLOCK.advance_us(40)
        c = self.codes[len(self.taken) % len(self.codes)]
        self.taken.append(c)
        return c * 65535 // 4095


@settings(max_examples=500, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    bias=st.integers(300, 3800),
    amp=st.sampled_from([0, 1, 3, 10, 60, 200, 700, 2000]),
    shape=st.sampled_from(["sine", "pulse", "noise", "square"]),
    ma_per_count=st.sampled_from([0.37, 5.0, 20.147, 61.0, 400.0]),
)
def test_integer_rms_matches_exact_rms(seed, bias, amp, shape, ma_per_count):
    rnd = random.Random(seed)
    codes = []
    for i in range(1000):
        u = (i + seed % 500) / 500.0
        if shape == "sine":
            v = amp * math.sin(2 * math.pi * u)
        elif shape == "pulse":
            v = amp if (i % 500) < 40 else (-amp if 250 <= (i % 500) < 290 else 0)
        elif shape == "square":
            v = amp if (i % 500) < 250 else -amp
        else:
            v = rnd.gauss(0, amp)
        codes.append(min(4095, max(0, round(bias + v + rnd.random() - 0.5))))
    adc = _ListADC(codes)
    ct = CT(adc, None, CLOCK, ma_per_count / 1000.0)
    ma = ct.read_ma()
    window = adc.taken[-ct.samples:]
    assert ct.samples == 1000
    n = len(window)
    mean = sum(window) / n
    exact = math.sqrt(sum((c - mean) ** 2 for c in window) / n) * ma_per_count
    if not 205 <= mean <= 3890:
        assert ma is None and ct.fault == "bias"
        return
    # int mA rounding, plus the fixed point's resolution: 1/256 count at small RMS
    # (1/16 count above 90 counts, where that is under 0.07 %)
    assert abs(ma - exact) <= 1 + exact * 7e-4 + ma_per_count / 256, (ma, exact)


def test_isqrt_is_floor_sqrt():
    for v in list(range(2000)) + [2**30 - 1, 2**30, 2**40 + 12345, 10**18]:
        r = _isqrt(v)
        assert r * r <= v < (r + 1) * (r + 1), v
