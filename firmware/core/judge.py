# The end-of-charge judgement of one port: fed each fresh reading while the relay is
# closed, it returns a verdict (None, an end reason, or JUDGED_FULL) that the Port acts on.
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
JUDGED_FULL = codes.FLOAT  # verdict: the battery is full, the port floats for float_s


class Rules:
    """The judgement's thresholds from one config, in integer mW and ms. Judges share one
    Rules object (firmware/core/app.py keeps the current one): a `config` command makes a
    new one, which an idle port takes at once and a busy port from the end of its session,
    so a running session keeps the rules it started with."""

    def __init__(self, cfg):
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


class Judge:
    """End-of-charge judgement for one port; reset at each session start. Its thresholds
    are `rules` (a Rules); its own state is the few counters below and the energy ring."""

    def __init__(self, rules):
        self.rules = rules
        self.ring = [0] * _BUCKETS
        self.reset(0)

    def float_again(self):
        """A session judged full before a power cut: loaded, and floating from now."""
        self.loaded = True
        self.float_ms = 0

    def reset(self, energy_mwh):
        self.loaded = False  # power has exceeded no_load_w since the port opened
        self.open_ms = 0
        self.below_ms = 0  # current stretch below full_w
        self.taper_ms = 0  # ... of which between unplug_w and full_w
        self.float_ms = -1  # -1: not judged full yet
        self.high_ms = 0  # in float: time back at charging level
        self.bucket_left = self.rules.bucket_ms
        self.head = 0
        ring = self.ring
        for i in range(_BUCKETS):
            ring[i] = energy_mwh

    def _window_avg_mw(self, energy_mwh):
        # Oldest snapshot is one window ago: average power = energy / window. For reports
        # and tests; the judgement uses _window_quiet() (no product above 2**30).
        return counter_diff(energy_mwh, self.ring[self.head]) * 3600000 // self.rules.window_ms

    def _window_quiet(self, energy_mwh):
        """The average power over the unplug window is below unplug_w."""
        return counter_diff(energy_mwh, self.ring[self.head]) < self.rules.quiet_mwh

    def _roll(self, dt_ms, energy_mwh):
        self.bucket_left -= dt_ms
        while self.bucket_left <= 0:
            self.ring[self.head] = energy_mwh
            self.head = (self.head + 1) % _BUCKETS
            self.bucket_left += self.rules.bucket_ms

    def judge(self, dt_ms, mw, energy_mwh):
        """One fresh reading while the relay is closed. Returns the verdict: None, the end
        reason, or JUDGED_FULL once (the port goes to float)."""
        r = self.rules
        self._roll(dt_ms, energy_mwh)
        if not self.loaded:
            self.open_ms += dt_ms
            if mw > r.no_load_mw:
                self.loaded = True
            elif self.open_ms >= r.no_load_ms:
                return codes.NO_LOAD
            else:
                return None
        if mw >= r.recharge_mw:
            if self.float_ms >= 0:
                self.high_ms += dt_ms
                if self.high_ms >= r.confirm_ms:  # charging again (battery swapped)
                    self.float_ms = -1
                    self.below_ms = self.taper_ms = self.high_ms = 0
            else:
                self.below_ms = self.taper_ms = 0
        elif mw < r.full_mw:
            self.high_ms = 0
            self.below_ms += dt_ms
            if mw >= r.unplug_mw:
                self.taper_ms += dt_ms
        if self.float_ms >= 0:
            self.float_ms += dt_ms
            if self.float_ms >= r.float_ms_limit:
                return codes.FULL
            if self.below_ms >= r.window_ms and self._window_quiet(energy_mwh):
                return codes.FULL  # done and quiet (or taken away) after full
            return None
        tapered = self.taper_ms >= r.taper_min_ms
        if (not tapered and self.below_ms >= r.window_ms
                and self._window_quiet(energy_mwh)):
            return codes.UNPLUGGED
        if tapered and self.below_ms >= r.confirm_ms:
            self.float_ms = 0
            return JUDGED_FULL
        return None
