# Boot guard (reset causes), the wall clock after a power-up, and the virtual lwIP that
# makes a blocking lookup visible on the virtual clock (both VMs).
import errno

import flashdir
import vsocket
from vclock import CLOCK, RTC_POWER_UP, START_EPOCH, START_TICKS_MS

from firmware.core import billing
from firmware.core.feeder import Feeder
from firmware.link.dns import Resolver
from firmware.link.netif import Ntp
from firmware.system import bootguard
from firmware.system.wallclock import MIN_EPOCH, WallClock

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


def test_power_ups_do_not_count_crashes_do():
    d = flashdir.fresh("guard")
    try:
        for _ in range(5):  # a recloser's burst: five power-ups
            assert bootguard.note_boot(d, crashed=False) == 0
            assert bootguard.safe_mode(0, False) is None
        counts = [bootguard.note_boot(d, crashed=True) for _ in range(3)]
        assert counts == [1, 2, 3]
        assert bootguard.safe_mode(3, False) == "3 boots in a row crashed before running stably"
        assert bootguard.note_boot(d, crashed=False) == 3  # a power cut clears nothing
        bootguard.mark_planned(d)  # a `reboot` command: the next reset is no crash
        assert bootguard.note_boot(d, crashed=True) == 3
        assert bootguard.note_boot(d, crashed=True) == 4  # the flag is used once
        bootguard.mark_planned(d, clear=True)  # safe mode cleared itself
        assert bootguard.note_boot(d, crashed=True) == 0
        bootguard.mark_stable(d)
        assert bootguard.note_boot(d, crashed=False) == 0
        assert bootguard.safe_mode(0, True) == "service button held at power-on"
    finally:
        flashdir.wipe(d)


def _rtc(unix_s, ms=0):
    CLOCK.epoch0 = unix_s - CLOCK.us // 1000000


def test_power_up_restarts_ticks_and_rtc_but_not_the_world():
    CLOCK.start(START_EPOCH)
    CLOCK.advance_ms(3600000)
    CLOCK.power_up()
    assert CLOCK.ticks_ms() == START_TICKS_MS
    assert CLOCK.time() == RTC_POWER_UP
    assert CLOCK.world_time() == START_EPOCH + 3600


def test_records_made_before_the_clock_is_known_get_true_times():
    d = flashdir.fresh("wall")
    try:
        CLOCK.start(START_EPOCH)
        CLOCK.advance_ms(600000)
        CLOCK.power_up()  # the RTC reads 2000-01-01, the world 10 minutes on
        w = WallClock(CLOCK, d, _rtc, power_up=True)
        assert not w.known and w.pu == 1
        CLOCK.advance_ms(5000)
        rec = {"id": "cab-1-1:s", "start": CLOCK.time(), "port": 0}
        w.tag(rec)
        assert rec["_pu"] == 1
        import json
        raw = json.dumps(rec).encode()
        assert w.restamp(raw) is None  # held: this power-up's clock is not known
        known = {"id": "x", "t": START_EPOCH}
        w.tag(known)
        assert "_pu" not in known
        CLOCK.advance_ms(2000)
        w.set(CLOCK.world_time(), 0)  # NTP answers
        assert w.known and CLOCK.time() == START_EPOCH + 607
        out = json.loads(w.restamp(raw))
        assert out == {"id": "cab-1-1:s", "start": START_EPOCH + 605, "port": 0}
        plain = b'{"id":"y","t":1764201700}'
        assert w.restamp(plain) is plain  # untagged records pass untouched
        # Power lost again before the clock was learnt, then a third power-up learns it.
        CLOCK.advance_ms(60000)
        CLOCK.power_up()
        w2 = WallClock(CLOCK, d, _rtc, power_up=True)
        lost = {"id": "cab-2-a1", "t": CLOCK.time()}
        w2.tag(lost)
        raw2 = json.dumps(lost).encode()
        CLOCK.advance_ms(30000)
        CLOCK.power_up()
        w3 = WallClock(CLOCK, d, _rtc, power_up=True)
        assert w3.pu == 3 and w3.restamp(raw2) is None  # nothing known yet
        CLOCK.advance_ms(4000)
        w3.set(CLOCK.world_time())
        began = CLOCK.world_time() - 4  # when the third power-up began
        assert json.loads(w3.restamp(raw2))["t"] == began - 1  # an upper bound
        assert json.loads(w3.restamp(raw))["start"] == START_EPOCH + 605  # kept on flash
        # A watchdog reset keeps the RTC: same power-up, the clock stays known.
        w4 = WallClock(CLOCK, d, _rtc, power_up=False)
        assert w4.pu == 3 and w4.known
    finally:
        flashdir.wipe(d)


def test_tou_and_offpeak_do_not_act_on_an_unset_clock():
    tou = [10] * 16 + [90] * 32  # cheap 00:00-08:00 local, dear after
    t = billing.Tariff(50, 0, tou, None, 8)
    night = 1764172800 + 3600  # 2025-11-26 17:00 UTC = 01:00 local: a cheap slot
    b = billing.Bill(t)
    assert b._energy_price(night) == 10
    # unset clock: the base price. The app bills on Clock.since2024_s() (small ints on
    # the ESP32), so the unset RTC's 2000-01-01 01:00 is that many seconds before 2024.
    assert b._energy_price(RTC_POWER_UP + 3600 - 1704067200) == 50
    assert b._energy_price(night - 1704067200) == 10  # the same night, since 2024

    class _App:
        clock = CLOCK
        n = 0
    f = Feeder(_App(), {"feeder_limit_w": 8000, "start_reserve_w": 200, "offpeak_hour": 23,
                        "tz_offset_h": 8})
    noon = 1764201600 + 4 * 3600  # 12:00 local: off-peak is 11 h away
    assert f.offpeak_epoch(noon) == noon + 11 * 3600
    assert f.offpeak_epoch(RTC_POWER_UP + 60) == RTC_POWER_UP + 60  # now, not a guess
    assert RTC_POWER_UP + 10 ** 8 < MIN_EPOCH


def test_blocking_lookup_costs_lwips_retries_on_the_virtual_clock():
    CLOCK.start(START_EPOCH)
    vsocket.reset()
    vsocket.WORLD.names = {"mqtt.example.cn": "47.92.1.2", "ntp.example.cn": "203.0.113.9"}
    us = CLOCK.us
    assert vsocket.getaddrinfo("47.92.1.2", 1883)[0][-1] == ("47.92.1.2", 1883)
    assert CLOCK.us == us  # a literal: no lookup
    assert vsocket.getaddrinfo("mqtt.example.cn", 1883)[0][-1] == ("47.92.1.2", 1883)
    assert CLOCK.us - us == vsocket.WORLD.dns_rtt_ms * 1000
    vsocket.WORLD.stall(CLOCK.us, CLOCK.us + 60000000)
    us = CLOCK.us
    try:
        vsocket.getaddrinfo("mqtt.example.cn", 1883)
        raise AssertionError("no error")
    except OSError as e:
        assert e.args[0] == vsocket.EAI_FAIL
    assert 7000000 <= CLOCK.us - us <= 14000000  # lwIP's DNS retries


def test_resolver_and_ntp_on_the_virtual_network():
    CLOCK.start(START_EPOCH)
    vsocket.reset()
    vsocket.WORLD.names = {"ntp.example.cn": "203.0.113.9"}
    r = Resolver("192.168.4.1", CLOCK, sock_mod=vsocket)
    assert r.lookup("ntp.example.cn") is None  # asked; the answer takes dns_rtt_ms
    CLOCK.advance_ms(40)
    assert r.lookup("ntp.example.cn") == "203.0.113.9"
    try:
        for _ in range(10):
            r.lookup("nope.example.cn")
            CLOCK.advance_ms(40)
        raise AssertionError("no NXDOMAIN")
    except OSError as e:
        assert e.args[0] == errno.ENOENT
    CLOCK.power_up()
    got = []
    n = Ntp(Resolver("192.168.4.1", CLOCK, sock_mod=vsocket).lookup, CLOCK,
            lambda s, ms: got.append((s, ms)), host="ntp.example.cn", sock_mod=vsocket)
    for _ in range(10):
        n.step()
        CLOCK.advance_ms(20)
    assert n.synced and len(got) == 1
    assert abs(got[0][0] - CLOCK.world_time()) <= 1
    # DNS stalled: the exchange never completes and nothing waits
    vsocket.WORLD.stall(CLOCK.us, CLOCK.us + 10 ** 12)
    got2 = []
    n2 = Ntp(Resolver("192.168.4.1", CLOCK, sock_mod=vsocket).lookup, CLOCK,
             lambda s, ms: got2.append(s), host="ntp.example.cn", sock_mod=vsocket)
    us = CLOCK.us
    for _ in range(500):
        n2.step()
        CLOCK.advance_ms(20)
    assert got2 == [] and CLOCK.us - us == 500 * 20000


class _Time2000:
    """A port with the ESP32 builds' 2000 epoch: time() counts from 2000-01-01."""

    def __init__(self, since_2000_s):
        self.s = since_2000_s

    def time(self):
        return self.s

    def gmtime(self, secs=None):
        import machine  # the fake's civil-date helper, independent of the host's epoch
        y, mo, d, h, mi, s, wd = machine._civil_of((self.s if secs is None else secs)
                                                   + RTC_POWER_UP)
        return (y, mo, d, h, mi, s, wd, 0)

    ticks_ms = ticks_us = ticks_diff = ticks_add = sleep_ms = sleep_us = None


class _Rtc:
    set_to = None

    def __call__(self):
        return self

    def datetime(self, dt):
        _Rtc.set_to = dt


def test_wall_clock_is_unix_time_on_either_epoch():
    from drivers import cabinet

    t2000 = _Time2000(START_EPOCH - RTC_POWER_UP)
    c = cabinet.Clock(t2000)
    assert c.offset == RTC_POWER_UP and c.time() == START_EPOCH  # the wire is Unix time

    class _M:
        RTC = _Rtc()
    cabinet.set_rtc(_M, t2000, START_EPOCH + 61, 250)  # 2025-11-27 00:01:01.25 UTC
    assert _Rtc.set_to == (2025, 11, 27, 3, 0, 1, 1, 250000), _Rtc.set_to
    import time as host_time
    if host_time.gmtime(0)[0] == 1970:  # this VM: the 1970 epoch, no offset
        cabinet.set_rtc(_M, host_time, START_EPOCH + 61)
        assert _Rtc.set_to == (2025, 11, 27, 3, 0, 1, 1, 0), _Rtc.set_to
