# Hot-path ints stay ESP32 small ints (issue 11, item 8).
#
# On the ESP32 a small int holds 2**30 (signed 31-bit); anything bigger is a long int on
# the heap, allocated each time one is made, so "0 B per tick" measured on the 64-bit
# unix port would not be true on the device. tools/bench/smallint.py traces every
# firmware/ and drivers/ frame of the steady-state control tick (10 ports, July 2026, TOU
# tariff, sessions 3 h old, up 21 days, meter counters wrapping) and records any int
# local, attribute touched, list element or return value of 2**30 or more in magnitude.
# On the code before this change it found 19 (Unix seconds in billing and the feeder,
# the meters' energy counters and the judge's ring past 2**30).
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _p in (os.path.join(ROOT, "tools", "bench"), os.path.join(ROOT, "tools", "sim")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import smallint  # noqa: E402
import steady  # noqa: E402

from drivers.board import NoPortSensors  # noqa: E402
from drivers.hlw8032 import PulseEnergy  # noqa: E402
from firmware.core.judge import Judge, Rules  # noqa: E402
from firmware.core.protection import Protection  # noqa: E402
from firmware.core.session import Session  # noqa: E402
from firmware.core.ticks import WRAP_MASK, counter_diff, wrap_add  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402


def test_the_steady_state_tick_touches_no_int_of_2_30_or_more():
    w, app = smallint.check(400)
    assert w.big == {}, "long ints on the ESP32 in the hot path: %s" % w.big
    assert w.frames > 10000 and w.checked > 100000, (w.frames, w.checked)
    hot = ("firmware/core/app.py:tick", "firmware/core/port.py:on_reading",
           "firmware/core/app.py:_housekeeping",
           "firmware/core/judge.py:judge", "firmware/core/billing.py:add_energy",
           "firmware/core/billing.py:_energy_price", "firmware/core/feeder.py:_pick",
           "firmware/core/protection.py:reading", "drivers/meterscan.py:poll",
           "drivers/meterscan.py:_take", "drivers/pulse_energy.py:_add")
    assert not [f for f in hot if f not in w.seen], sorted(w.seen)
    # What the run went through: every meter counter wrapped, the TOU slot changed
    # (18:30 local: the peak price), one session still waits for the off-peak hour.
    m = app.meters
    for p in range(9):
        assert m.energy_mwh[p] < 100000, "port %d counter did not wrap: %d" % (p, m.energy_mwh[p])
        assert app.session(p).bill._slot_price == steady.TOU[37]
        assert app.session(p).charge_ms > 3 * 3600 * 1000
    assert app.port_state(9) == "deferred" and app.session(9).not_before > steady.SLOT_CHANGE


def test_the_check_finds_unix_seconds_in_the_hot_path(monkeypatch):
    # The check can fail: give the hot path Unix seconds again (1.78e9) and it says where.
    def unix_seconds(clock):
        monkeypatch.setattr(clock, "since2024_s", clock.time)  # undone after the test

    w, _ = smallint.check(60, patch=unix_seconds)
    where = sorted(w.big)
    assert any(k.startswith("firmware/core/feeder.py:_pick ") for k in where), where
    assert any(k.startswith("firmware/core/billing.py:add_energy ") for k in where), where


def test_counters_wrap_like_ticks():
    r = random.Random(11)
    for _ in range(20000):
        a = r.randrange(WRAP_MASK + 1)
        d = r.randrange(WRAP_MASK + 1)
        assert wrap_add(a, d) == (a + d) % (1 << 30)
        x = r.randrange(-(1 << 29), 1 << 29)
        assert counter_diff((a + x) % (1 << 30), a) == x
    # The HLW8032 energy: the same mWh added across the wrap as far from it.
    near, far = PulseEnergy(), PulseEnergy()
    for e in (near, far):
        e._set_pparam(5000)
    near.mwh = WRAP_MASK - 10
    near.pulses = WRAP_MASK - 100
    for _ in range(200):
        near._add(3000)
        far._add(3000)
    assert counter_diff(near.mwh, WRAP_MASK - 10) == far.mwh > 10
    assert near.mwh < far.mwh and 0 <= near.pulses < 1 << 30
    assert counter_diff(near.pulses, WRAP_MASK - 100) == far.pulses


def test_unplug_window_judgement_without_the_big_product():
    # de_mwh * 3600000 // window_ms < unplug_mw, decided as de_mwh < quiet_mwh: exact.
    r = random.Random(5)
    for unplug_s, unplug_w in ((300, 3), (30, 2.5), (3600, 1), (123, 7.3), (45.5, 0.7)):
        cfg, problems = config_mod.validate({"unplug_s": unplug_s, "unplug_w": unplug_w})
        assert not problems, problems
        j = Judge(Rules(cfg))
        for _ in range(3000):
            base = r.randrange(WRAP_MASK + 1)
            de = r.randrange(-50, 3 * j.rules.quiet_mwh + 50)
            j.ring[j.head] = base
            e = (base + de) % (1 << 30)
            old = de * 3600000 // j.rules.window_ms < j.rules.unplug_mw
            assert j._window_quiet(e) == old, (unplug_s, unplug_w, de)


def test_resistive_check_without_the_big_products():
    cfg, _ = config_mod.validate({})
    pr = Protection(None, NoPortSensors(), None, cfg)
    r = random.Random(3)
    for _ in range(50000):
        mv = r.randrange(180000, 260000)
        ma = r.randrange(0, 40000)
        mw = r.randrange(0, 12000000)
        if r.random() < 0.5:  # near the boundary
            mw = (mv // 100) * (ma // 10) * pr.resistive_pf_milli // 1000 + r.randrange(-3, 4)
        old = mw * 1000 >= pr.resistive_pf_milli * ((mv // 100) * (ma // 10))
        assert pr._resistive(mw, ma, mv) == old, (mw, ma, mv)


def test_sessions_keep_unix_seconds_on_the_wire():
    s = Session("x", 0, "remote", "full", 0, None, 1782901795, None)
    assert s.not_before == 0 and s.may_start(-757382400)  # at once, clock unset (2000)
    s.not_before = 1782918000  # 23:00 local, Unix seconds as in the journal record
    assert s.not_before == 1782918000 and s.not_before_s == 1782918000 - 1704067200
    assert not s.may_start(1782917999 - 1704067200) and s.may_start(1782918000 - 1704067200)
