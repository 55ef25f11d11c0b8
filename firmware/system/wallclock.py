# The wall clock after a power-up, and the times of records made before it was known.
#
# The ESP32 has no RTC battery: after a power-up the RTC reads 2000-01-01 00:00 and counts
# from there until NTP (netif.Ntp) or a signed `time` command sets it. The RTC keeps
# running through the other resets (watchdog, crash, reboot command), so a clock set once
# stays known until the next power cut. Clock.time() is Unix seconds on either epoch
# (drivers/cabinet.py); the wire is Unix time. The clock is "known" when it reads 2023-11
# or later (MIN_EPOCH).
#
# Records made while the clock is unknown keep the RTC's times (seconds since the
# power-up + 946684800, far below MIN_EPOCH) and are tagged "_pu": the power-up they were
# made in (counted in state/clock.json). When the clock becomes known, set() stores
# delta = true time - RTC time for this power-up. On the way out (Uplink.restamp, the
# simulator's delivery) restamp() adds the delta to every time field below MIN_EPOCH and
# drops the tag, so the wire never carries a year-2000 time:
# - a record of this power-up is held (not sent) until the clock is known;
# - a record of an earlier power-up whose clock was never learnt (the power went again
#   first) gets the start of this power-up minus one second: an upper bound, since it
#   was made before that. Its order in the outbox and its charge_s stay exact.
# Telemetry waits for a known clock (cloud.py); TOU prices (billing.py) use the base
# price and an off-peak request starts at once (feeder.py) while the clock is unknown.

import json

from firmware.store import store

MIN_EPOCH = 1700000000  # the same bound as cloud.MIN_EPOCH: 2023-11
_MIN_2024_S = -4067200  # MIN_EPOCH in Clock.since2024_s() seconds (a small int)
RTC_POWER_UP = 946684800  # 2000-01-01 00:00 UTC in Unix seconds: the RTC at power-up
_TIME_KEYS = ("start", "end", "t")  # the record fields that hold wall times
_TAG = "_pu"
_KEEP = 8  # power-ups whose delta is remembered
_NAME = "clock"


class WallClock:
    def __init__(self, clock, state_dir, set_rtc, power_up):
        """power_up: True when this boot follows a power-on reset (the RTC restarted)."""
        self.clock = clock
        self.dir = state_dir
        self.set_rtc = set_rtc  # set_rtc(unix_s, ms): the RTC
        rec, _ = store.read(state_dir, _NAME)
        rec = rec if isinstance(rec, dict) else {}
        pu = rec.get("pu", 0)
        self.pu = (pu + 1 if power_up else pu) if isinstance(pu, int) else 1
        d = rec.get("delta")
        self.delta = dict(d) if isinstance(d, dict) else {}  # str(pu) -> seconds
        self.synced = False  # set this boot by NTP or a `time` command
        self.sets = 0
        if self.pu != pu:
            self._save()

    @property
    def known(self):
        return self.clock.since2024_s() >= _MIN_2024_S  # no long int (once a second)

    def set(self, unix_s, ms=0):
        """Set the RTC (NTP's answer or a `time` command); learn this power-up's delta."""
        was = self.clock.time()
        if was < MIN_EPOCH and str(self.pu) not in self.delta:
            self.delta[str(self.pu)] = unix_s - was
            self._save()
        self.set_rtc(unix_s, ms)
        self.synced = True
        self.sets += 1

    def tag(self, payload):
        """Persist hook: mark a record holding an RTC time from before the clock was known."""
        for k in _TIME_KEYS:
            v = payload.get(k)
            if isinstance(v, int) and v < MIN_EPOCH:
                payload[_TAG] = self.pu
                return

    def restamp(self, data):
        """Outbox bytes -> bytes for the wire with true times, or None: hold it for now."""
        if b'"' + _TAG.encode() + b'"' not in data:
            return data
        rec = json.loads(data)
        pu = rec.pop(_TAG)
        delta = self.delta.get(str(pu))
        if delta is None:
            mine = self.delta.get(str(self.pu))
            if pu == self.pu or mine is None:
                return None  # this power-up's clock is not known yet
            bound = RTC_POWER_UP + mine - 1  # this power-up began after the record
            for k in _TIME_KEYS:
                v = rec.get(k)
                if isinstance(v, int) and v < MIN_EPOCH:
                    rec[k] = bound
        else:
            for k in _TIME_KEYS:
                v = rec.get(k)
                if isinstance(v, int) and v < MIN_EPOCH:
                    rec[k] = v + delta
        return json.dumps(rec, separators=(",", ":")).encode()

    def _save(self):
        keys = sorted(self.delta, key=int)[-_KEEP:]
        try:
            store.write(self.dir, _NAME, {"pu": self.pu,
                                          "delta": {k: self.delta[k] for k in keys}})
        except OSError:
            pass  # flash failing: the delta lives in RAM for this boot
