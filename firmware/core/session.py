# One charging port: its session and the end-of-charge judgement.
#
# Pure logic on integers: the app feeds each fresh meter reading (milliwatts, energy
# counter) with the time since the last one; `judge()` says whether the session should
# end and why. Protection (trips) lives in protection.py, the relay and the feeder in app.py.
#
# The judgement, and why (FIELD_FACTS.md section 3):
# - full: below full_w for full_confirm_s with a *taper* seen (some of that time between
#   unplug_w and full_w, as a charger in constant voltage or float draws), then float_s
#   more, then end. A charger that finishes and goes to ~0 W after the taper is still full.
# - unplugged: a *straight* drop from charging level to below unplug_w: the below-full
#   stretch shows no taper, lasts unplug_s, and the average over unplug_s is below
#   unplug_w. A charger idling at 1-8 W keeps feeding the taper, so it never looks
#   unplugged; a lithium handshake (~0 W for tens of seconds) is far shorter than unplug_s.
# - Hysteresis: the below-full stretch is reset only by power clearly back at charging
#   level (>= 1.25 * full_w), so noise around full_w does not restart it.

from firmware.core import codes
from firmware.core.ticks import counter_diff

_BUCKETS = 30  # energy snapshots per unplug window
_EPOCH_2024 = 1704067200  # 2024-01-01 00:00 UTC in Unix seconds (Clock.since2024_s)


class Session:
    """What a session is and what it has used. Plain ints and strings (journal-friendly)."""

    def __init__(self, sid, port, auth, limit_kind, limit_value, order, start_epoch, bill):
        self.sid = sid
        self.port = port
        self.auth = auth
        self.limit_kind = limit_kind  # "minutes", "wh", "fen" or "full"
        self.limit_value = limit_value
        self.order = order
        self.start_epoch = start_epoch
        self.not_before_s = 0  # off-peak start, seconds since 2024 (small int); 0 = at once
        self.charge_ms = 0  # relay-closed time, excluding deferral and outages
        self.mwh = 0  # delivered energy, milli-Wh
        self.peak_mw = 0
        self.bill = bill
        self.seq = 0  # start order in this cabinet (orderly charging pauses the newest)
        self.tariff = None  # None: the cabinet's prices; else this session's (start command)

    @property
    def not_before(self):
        """The off-peak start in Unix seconds (0 = at once): the journal's field."""
        return self.not_before_s + _EPOCH_2024 if self.not_before_s else 0

    @not_before.setter
    def not_before(self, epoch):
        self.not_before_s = epoch - _EPOCH_2024 if epoch else 0

    def may_start(self, now_s):
        """May the session draw at now_s (Clock.since2024_s)? Small ints only."""
        nb = self.not_before_s
        return nb == 0 or nb <= now_s

    def limit_dict(self):
        if self.limit_kind == "full":
            return {"full": True}
        return {self.limit_kind: self.limit_value}

    def limit_reached(self):
        k = self.limit_kind
        if k == "minutes":
            # In seconds: minutes * 60000 passes 2**30 (a long int on the ESP32) for limits
            # above 17 895 minutes. The reading that crosses the limit comes up to a meter
            # sweep after it: the session is charged the time it bought, no more.
            limit_s = self.limit_value * 60
            if self.charge_ms // 1000 < limit_s:
                return None
            self.charge_ms = limit_s * 1000
            return codes.TIME_LIMIT
        if k == "wh":
            return codes.ENERGY_LIMIT if self.mwh >= self.limit_value * 1000 else None
        if k == "fen":
            return codes.MONEY_LIMIT if self.bill.fen >= self.limit_value else None
        return None


class Judge:
    """End-of-charge judgement for one port; reset at each session start."""

    def __init__(self, cfg):
        self.configure(cfg)
        self.ring = [0] * _BUCKETS
        self.reset(0)

    def configure(self, cfg):
        self.full_mw = int(cfg["full_w"] * 1000)
        self.recharge_mw = self.full_mw * 5 // 4
        self.unplug_mw = int(cfg["unplug_w"] * 1000)
        self.no_load_mw = int(cfg["no_load_w"] * 1000)
        self.confirm_ms = int(cfg["full_confirm_s"] * 1000)
        self.float_ms_limit = int(cfg["float_s"] * 1000)
        self.taper_min_ms = int(cfg["taper_min_s"] * 1000)
        self.no_load_ms = int(cfg["no_load_s"] * 1000)
        self.window_ms = int(cfg["unplug_s"] * 1000)
        self.bucket_ms = self.window_ms // _BUCKETS
        # avg_mw = de_mwh * 3600000 // window_ms < unplug_mw  <=>  de_mwh < this (exact,
        # by integers; the product would be a long int on the ESP32, this is computed once)
        self.quiet_mwh = -(-(self.unplug_mw * self.window_ms) // 3600000)

    def reset(self, energy_mwh):
        self.loaded = False  # power has exceeded no_load_w since the port opened
        self.open_ms = 0
        self.below_ms = 0  # current stretch below full_w
        self.taper_ms = 0  # ... of which between unplug_w and full_w
        self.float_ms = -1  # -1: not judged full yet
        self.high_ms = 0  # in float: time back at charging level
        self.bucket_left = self.bucket_ms
        self.head = 0
        ring = self.ring
        for i in range(_BUCKETS):
            ring[i] = energy_mwh

    def _window_avg_mw(self, energy_mwh):
        # Oldest snapshot is one window ago: average power = energy / window. For reports
        # and tests; the judgement uses _window_quiet() (no product above 2**30).
        return counter_diff(energy_mwh, self.ring[self.head]) * 3600000 // self.window_ms

    def _window_quiet(self, energy_mwh):
        """The average power over the unplug window is below unplug_w."""
        return counter_diff(energy_mwh, self.ring[self.head]) < self.quiet_mwh

    def _roll(self, dt_ms, energy_mwh):
        self.bucket_left -= dt_ms
        while self.bucket_left <= 0:
            self.ring[self.head] = energy_mwh
            self.head = (self.head + 1) % _BUCKETS
            self.bucket_left += self.bucket_ms

    def judge(self, dt_ms, mw, energy_mwh):
        """One fresh reading while the relay is closed. Returns (reason or None, newly_full)."""
        self._roll(dt_ms, energy_mwh)
        if not self.loaded:
            self.open_ms += dt_ms
            if mw > self.no_load_mw:
                self.loaded = True
            elif self.open_ms >= self.no_load_ms:
                return codes.NO_LOAD, False
            else:
                return None, False
        if mw >= self.recharge_mw:
            if self.float_ms >= 0:
                self.high_ms += dt_ms
                if self.high_ms >= self.confirm_ms:  # charging again (battery swapped)
                    self.float_ms = -1
                    self.below_ms = self.taper_ms = self.high_ms = 0
            else:
                self.below_ms = self.taper_ms = 0
        elif mw < self.full_mw:
            self.high_ms = 0
            self.below_ms += dt_ms
            if mw >= self.unplug_mw:
                self.taper_ms += dt_ms
        if self.float_ms >= 0:
            self.float_ms += dt_ms
            if self.float_ms >= self.float_ms_limit:
                return codes.FULL, False
            if self.below_ms >= self.window_ms and self._window_quiet(energy_mwh):
                return codes.FULL, False  # done and quiet (or taken away) after full
            return None, False
        tapered = self.taper_ms >= self.taper_min_ms
        if (not tapered and self.below_ms >= self.window_ms
                and self._window_quiet(energy_mwh)):
            return codes.UNPLUGGED, False
        if tapered and self.below_ms >= self.confirm_ms:
            self.float_ms = 0
            return None, True
        return None, False


def parse_limit(limit):
    """{"minutes": n} | {"wh": n} | {"fen": n} | {"full": true} -> (kind, value) or (None, None)."""
    if not isinstance(limit, dict) or len(limit) != 1:
        return None, None
    for k in limit:
        v = limit[k]
        if k == "full":
            return ("full", 0) if v is True else (None, None)
        if k in ("minutes", "wh", "fen"):
            if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1000000:
                return k, v
    return None, None
