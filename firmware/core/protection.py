# Protection: per-port trips on each meter reading, welded relays, cabinet temperature and
# smoke. It decides and the Port (port.py) or the App acts: every check returns None or a
# verdict (reason, alarm, value), and whoever acts on it opens the relay first (fail safe),
# then raises the alarm, then does the bookkeeping. Nothing here touches a relay, a port's
# state or the network; warnings that stop nothing go out through the alarm sink.

from firmware.core import codes
from firmware.core.ticks import fresh

_WELD_GRACE_MS = 1500  # contacts open in ~10 ms; a meter frame integrates ~55 ms
_WELD_HITS = 2  # fresh readings over relay_weld_w with the relay open
NOT_OVER = -1  # Guard.over_since while not over the limit (ticks are never negative)


class Guard:
    """One port's protection counters; its Port owns it, Protection reads and counts."""

    def __init__(self, now):
        self.over_since = NOT_OVER  # over the power limit (or resistive) since this tick
        self.off_ms = now  # when the relay last opened
        self.weld_hits = 0
        self.silent = False  # the port's meter stopped answering

    def relay_changed(self, on, now):
        self.over_since = NOT_OVER
        if not on:
            self.off_ms = now
            self.weld_hits = 0


class Protection:
    def __init__(self, clock, sensors, alarms, cfg):
        self.clock = clock
        self.sens = sensors
        self.alarms = alarms  # raise_alarm/clear_alarm: the App
        self.configure(cfg)
        self.hot = False  # cabinet at cabinet_stop_c: every session ended
        self.warm = False  # cabinet_overtemp warning raised
        self.sensor_bad = False
        self.smoke = False
        # Bound once here: fetching a bound method allocates, and this runs every second.
        self.port_c10 = sensors.port_c10  # None per port without a probe (drivers/board.py)

    def configure(self, cfg):
        """Thresholds from the config; also called when a config command changes them."""
        self.limit_ma = int(cfg["port_limit_a"] * 1000)
        self.limit_mw = int(cfg["port_limit_w"] * 1000)
        self.hold_ms = int(cfg["overpower_hold_s"] * 1000)
        self.resistive_mw = int(cfg["resistive_limit_w"] * 1000)
        self.resistive_pf_milli = int(cfg["resistive_pf"] * 1000)
        self.weld_mw = int(cfg["relay_weld_w"] * 1000)
        self.warn_c10 = int(cfg["cabinet_warn_c"] * 10)
        self.stop_c10 = int(cfg["cabinet_stop_c"] * 10)
        self.hyst_c10 = int(cfg["temp_hyst_c"] * 10)

    def stopped(self):
        """Smoke or a hot cabinet: no relay may close, no session may start."""
        return self.smoke or self.hot

    # --- per reading ---
    def reading(self, g, now, mw, ma, mv, live):
        """Check one fresh reading of the port guarded by g (live: its relay is closed).
        Returns None, or the verdict (reason, alarm, value): the port must trip."""
        if ma > self.limit_ma and live:
            return (codes.OVERCURRENT, codes.A_OVERCURRENT, ma // 10 / 100)
        if live:
            if mw > self.limit_mw or (mw > self.resistive_mw and self._resistive(mw, ma, mv)):
                if g.over_since == NOT_OVER:
                    g.over_since = now
                elif self.clock.ticks_diff(now, g.over_since) >= self.hold_ms:
                    return (codes.OVERPOWER, codes.A_OVERPOWER, mw // 1000)
            else:
                g.over_since = NOT_OVER
            return None
        # Relay open: any real power means welded contacts (or a short across them).
        if mw > self.weld_mw and self.clock.ticks_diff(now, g.off_ms) >= _WELD_GRACE_MS:
            g.weld_hits += 1
            if g.weld_hits == _WELD_HITS:
                return (codes.RELAY_FAULT, codes.A_RELAY_WELDED, mw // 1000)
        else:
            g.weld_hits = 0
        return None

    def _resistive(self, mw, ma, mv):
        # Power factor ~1 (a heater, not a switch-mode charger): P >= pf * V * I, that is
        # mw * 1000 >= pf_milli * va_m, decided without those products (each passes 2**30,
        # a long int on the ESP32, above ~500 W): with va_m = 1000 q + r and
        # d = mw - pf_milli * q it is 1000 d >= pf_milli * r, and r < 1000.
        va_m = (mv // 100) * (ma // 10)  # decivolts * centiamps = milli-VA
        pf = self.resistive_pf_milli
        q = va_m // 1000
        d = mw - pf * q
        if d < 0:
            return False
        if d >= pf:
            return True
        return d * 1000 >= pf * (va_m - q * 1000)

    def refresh(self, g, now):
        """Once a second: stored ages saturate (firmware/core/ticks.py), so a relay open for
        weeks is still "long open" to the welded-relay check."""
        clock = self.clock
        g.off_ms = fresh(clock, now, g.off_ms)
        if g.over_since != NOT_OVER:
            g.over_since = fresh(clock, now, g.over_since)

    # --- cabinet sensors, once a second ---
    def cabinet(self):
        """The cabinet temperature. Returns None or the verdict (reason, alarm, value): every
        relay opens and every session ends."""
        c10 = self.sens.cabinet_c10()
        alarms = self.alarms
        if c10 is None:
            if not self.sensor_bad:
                self.sensor_bad = True
                alarms.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, "cabinet_temp")
            return None
        if self.sensor_bad:
            self.sensor_bad = False
            alarms.clear_alarm(codes.A_SENSOR_FAULT, None)
        code = codes.A_CABINET_OVERTEMP
        if c10 >= self.stop_c10 and not self.hot:
            self.hot = True
            return (codes.OVERTEMP, code, c10 / 10)
        if self.hot and c10 < self.stop_c10 - self.hyst_c10:
            self.hot = False
            self.warm = False
            alarms.clear_alarm(code, None, c10 / 10)
        if not self.hot:
            # Alarm calls only on a change: this runs every second (no allocation).
            if c10 >= self.warn_c10 and not self.warm:
                self.warm = True
                alarms.raise_alarm(code, None, codes.WARNING, c10 / 10)
            elif c10 < self.warn_c10 - self.hyst_c10 and self.warm:
                self.warm = False
                alarms.clear_alarm(code, None, c10 / 10)
        return None

    def port_temp(self, p):
        """Port p's own temperature sensor, if the board has one. None or a trip verdict."""
        t = self.port_c10(p)
        if t is not None and t >= self.stop_c10:
            return (codes.OVERTEMP, codes.A_PORT_OVERTEMP, t / 10)
        return None

    def smoke_check(self):
        """The smoke detector. None or the verdict (reason, alarm, value): every relay opens
        and every port locks until inspected."""
        smoke = self.sens.smoke()
        if smoke and not self.smoke:
            self.smoke = True
            return (codes.SMOKE, codes.A_SMOKE, None)
        if not smoke and self.smoke:
            self.smoke = False
            self.alarms.clear_alarm(codes.A_SMOKE, None)  # ports stay locked until inspected
        return None
