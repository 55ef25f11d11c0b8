# Orderly charging: the ports share the cabinet feeder's `feeder_limit_w`.
#
# Admission: a new session needs `start_reserve_w` of room (counting the measured power
# of every closed relay plus a reserve for each port still waiting to draw); without it
# the session is deferred (or refused with `feeder_full`, per `feeder_full_action`).
# Overload: when the chargers together draw more than the budget, the newest session is
# paused (relay off, not timed, not billed), one every few seconds, until the total fits.
# Paused and deferred sessions resume oldest first once there is room for what they drew.

from firmware.core import codes
from firmware.core.ticks import fresh

_SHED_GAP_MS = 3000  # let the meters see the last pause before pausing another
_MIN_PAUSE_MS = 60000  # a paused charger stays off at least this long (no flapping)
_CLOCK_KNOWN_S = 1700000000  # Unix s; below: the RTC after a power-up, not yet set


class Feeder:
    def __init__(self, app, cfg):
        self.app = app
        self.configure(cfg)
        self.need_mw = [0] * app.n  # what a paused session drew when it was paused
        now = app.clock.ticks_ms()
        self.last_shed = now
        self.overloaded = False

    def configure(self, cfg):
        """Budget and hours from the config; also called when a config command changes them."""
        self.limit_mw = int(cfg["feeder_limit_w"] * 1000)
        self.reserve_mw = int(cfg["start_reserve_w"] * 1000)
        self.offpeak_hour = cfg["offpeak_hour"]
        self.tz_s = int(cfg["tz_offset_h"] * 3600)

    def refresh(self, now):
        """Once a second: the last shed's age saturates (firmware/core/ticks.py)."""
        self.last_shed = fresh(self.app.clock, now, self.last_shed)

    def load_mw(self):
        """Measured draw of closed relays plus reserves for ports about to draw."""
        app = self.app
        total = 0
        mw = app.meters.mw
        ports = app.ports
        for p in range(app.n):
            port = ports[p]
            if port.relay_on:
                if port.state == codes.OPEN and not port.judge.loaded:
                    total += self.reserve_mw if mw[p] < self.reserve_mw else mw[p]
                else:
                    total += mw[p]
            elif port.want_on:
                total += self.need_mw[p] if self.need_mw[p] > self.reserve_mw else self.reserve_mw
        return total

    def has_room(self, need_mw):
        return self.load_mw() + need_mw <= self.limit_mw

    def balance(self, now):
        app = self.app
        diff = app.clock.ticks_diff
        total = self.load_mw()
        if total > self.limit_mw:
            if not self.overloaded:
                self.overloaded = True
                app.raise_alarm(codes.A_FEEDER_OVERLOAD, None, codes.WARNING, total // 1000)
            if diff(now, self.last_shed) >= _SHED_GAP_MS:
                newest = self._pick(True)
                if newest >= 0:
                    self.last_shed = now
                    self.need_mw[newest] = app.meters.mw[newest]
                    app.ports[newest].pause(now)
            return
        oldest = self._pick(False)
        if oldest >= 0 and diff(now, app.hold_until) >= 0:
            need = self.need_mw[oldest]
            if need < self.reserve_mw:
                need = self.reserve_mw
            port = app.ports[oldest]
            rested = self.need_mw[oldest] == 0 or diff(now, port.state_ms) >= _MIN_PAUSE_MS
            if total + need <= self.limit_mw and rested:
                port.resume(now)
                total += need
        if self.overloaded and total <= self.limit_mw and self._pick(False) < 0:
            self.overloaded = False
            app.clear_alarm(codes.A_FEEDER_OVERLOAD, None, total // 1000)

    def _pick(self, running):
        """Newest running session (running=True) or oldest deferred one that may start."""
        app = self.app
        best = -1
        now_s = app.clock.since2024_s()  # a small int on the ESP32 (Unix seconds are not)
        ports = app.ports
        for p in range(app.n):
            port = ports[p]
            s = port.session
            if s is None:
                continue
            if running:
                if port.relay_on and (best < 0 or s.seq > ports[best].session.seq):
                    best = p
            elif port.state == codes.DEFERRED and s.may_start(now_s):
                if best < 0 or s.seq < ports[best].session.seq:
                    best = p
        return best

    def offpeak_epoch(self, epoch):
        """The next start of the off-peak hour (local time), or `epoch` if inside it now."""
        if epoch < _CLOCK_KNOWN_S:
            return epoch  # the wall clock is unset (wallclock.py): start now, not at a guess
        local = epoch + self.tz_s
        day = local - local % 86400
        start = day + self.offpeak_hour * 3600
        if local >= start:
            return epoch  # already past today's off-peak start: begin now
        if local < day + 7 * 3600 and self.offpeak_hour >= 12:
            return epoch  # small hours: still inside last night's off-peak window
        return start - self.tz_s
