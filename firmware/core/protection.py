# Protection: per-port trips on each meter reading, welded relays, silent meters,
# cabinet temperature and smoke. Fail safe: the relay opens first, the report follows.
# Nothing here touches the network; alarms are queued through the app.

from firmware.core import codes
from firmware.core.ticks import fresh_all

_WELD_GRACE_MS = 1500  # contacts open in ~10 ms; a meter frame integrates ~55 ms
_WELD_HITS = 2  # fresh readings over relay_weld_w with the relay open


class Protection:
    def __init__(self, app, cfg):
        self.app = app
        n = app.n
        self.configure(cfg)
        now = app.clock.ticks_ms()
        self.over = [False] * n
        self.over_since = [now] * n
        self.off_ms = [now] * n
        self.weld_hits = [0] * n
        self.silent = [False] * n
        self.hot = False  # cabinet at cabinet_stop_c: every session ended
        self.warm = False  # cabinet_overtemp warning raised
        self.sensor_bad = False
        self.smoke = False
        # Bound once here: fetching a bound method allocates, and this runs every second.
        self.port_c10 = app.board.sensors.port_c10

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

    # --- per reading ---
    def reading(self, p, now, dt, mw, ma, mv):
        """Check one fresh reading. Returns True when the port tripped."""
        app = self.app
        if self.silent[p]:
            self._meter_back(p)
        live = app.relay_on[p]
        if ma > self.limit_ma and live:
            self.trip(p, codes.OVERCURRENT, codes.A_OVERCURRENT, ma // 10 / 100)
            return True
        if live:
            if mw > self.limit_mw or (mw > self.resistive_mw and self._resistive(mw, ma, mv)):
                if not self.over[p]:
                    self.over[p] = True
                    self.over_since[p] = now
                elif app.clock.ticks_diff(now, self.over_since[p]) >= self.hold_ms:
                    self.trip(p, codes.OVERPOWER, codes.A_OVERPOWER, mw // 1000)
                    return True
            else:
                self.over[p] = False
            return False
        # Relay open: any real power means welded contacts (or a short across them).
        if mw > self.weld_mw and app.clock.ticks_diff(now, self.off_ms[p]) >= _WELD_GRACE_MS:
            self.weld_hits[p] += 1
            if self.weld_hits[p] == _WELD_HITS:
                app.raise_alarm(codes.A_RELAY_WELDED, p, codes.CRITICAL, mw // 1000)
                if app.sessions[p] is not None:
                    app.end(p, codes.RELAY_FAULT)
                else:
                    app.lock(p, codes.RELAY_FAULT)
        else:
            self.weld_hits[p] = 0
        return False

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

    def trip(self, p, reason, alarm, value):
        app = self.app
        app.relays.set(p, False)  # fail safe first, whatever the bookkeeping says
        app.raise_alarm(alarm, p, codes.CRITICAL, value)
        app.end(p, reason, lock=True)

    def relay_changed(self, p, on):
        self.over[p] = False
        if not on:
            self.off_ms[p] = self.app.clock.ticks_ms()
            self.weld_hits[p] = 0

    def refresh(self, now):
        """Once a second: stored ages saturate (firmware/core/ticks.py), so a relay open for
        weeks is still "long open" to the welded-relay check."""
        clock = self.app.clock
        fresh_all(clock, now, self.off_ms)
        fresh_all(clock, now, self.over_since)

    def settled(self, now, settle_ms):
        """True when no relay opened in the last settle_ms."""
        diff = self.app.clock.ticks_diff
        for t in self.off_ms:
            if diff(now, t) < settle_ms:
                return False
        return True

    def may_close(self, p):
        st = self.app.state[p]
        return not (self.smoke or self.hot or self.silent[p]
                    or st == codes.LOCKED or st == codes.FAULT)

    # --- meters ---
    def meter_silent(self, p):
        if self.silent[p]:
            return
        self.silent[p] = True
        app = self.app
        m = app.meters
        code = codes.A_METER_GARBAGE if m.garbage(p) else codes.A_METER_SILENT
        running = app.sessions[p] is not None
        app.relays.set(p, False)
        app.raise_alarm(code, p, codes.CRITICAL if running else codes.WARNING)
        if running:
            app.end(p, codes.METER_FAULT)
        elif app.relay_on[p]:
            app.set_relay(p, False)
        if app.state[p] != codes.LOCKED:
            app._set_state(p, codes.FAULT)

    def _meter_back(self, p):
        self.silent[p] = False
        app = self.app
        app.clear_alarm(codes.A_METER_SILENT, p)
        app.clear_alarm(codes.A_METER_GARBAGE, p)
        if app.state[p] == codes.FAULT:
            app._set_state(p, codes.IDLE)

    # --- cabinet sensors, once a second ---
    def sensors(self):
        app = self.app
        sens = app.board.sensors
        c10 = sens.cabinet_c10()
        if c10 is None:
            if not self.sensor_bad:
                self.sensor_bad = True
                app.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, "cabinet_temp")
        else:
            if self.sensor_bad:
                self.sensor_bad = False
                app.clear_alarm(codes.A_SENSOR_FAULT, None)
            self._cabinet_temp(c10)
        port_c10 = self.port_c10
        for p in range(app.n):
            t = port_c10(p)  # None: no probe on this port (drivers/board.py)
            if t is not None and t >= self.stop_c10:
                if app.sessions[p] is not None or app.state[p] != codes.LOCKED:
                    self.trip(p, codes.OVERTEMP, codes.A_PORT_OVERTEMP, t / 10)
        smoke = sens.smoke()
        if smoke and not self.smoke:
            self.smoke = True
            for p in range(app.n):
                app.relays.set(p, False)  # every relay off at once, then the bookkeeping
            app.raise_alarm(codes.A_SMOKE, None, codes.CRITICAL)
            for p in range(app.n):
                app.end(p, codes.SMOKE, lock=True)
        elif not smoke and self.smoke:
            self.smoke = False
            app.clear_alarm(codes.A_SMOKE, None)  # ports stay locked until inspected
        app.cabinet_stop = self.smoke or self.hot

    def _cabinet_temp(self, c10):
        app = self.app
        code = codes.A_CABINET_OVERTEMP
        if c10 >= self.stop_c10 and not self.hot:
            self.hot = True
            for p in range(app.n):
                app.relays.set(p, False)
            app.raise_alarm(code, None, codes.CRITICAL, c10 / 10)
            for p in range(app.n):
                if app.sessions[p] is not None:
                    app.end(p, codes.OVERTEMP)
        elif self.hot and c10 < self.stop_c10 - self.hyst_c10:
            self.hot = False
            self.warm = False
            app.clear_alarm(code, None, c10 / 10)
        if not self.hot:
            # Alarm calls only on a change: this runs every second (no allocation).
            if c10 >= self.warn_c10 and not self.warm:
                self.warm = True
                app.raise_alarm(code, None, codes.WARNING, c10 / 10)
            elif c10 < self.warn_c10 - self.hyst_c10 and self.warm:
                self.warm = False
                app.clear_alarm(code, None, c10 / 10)
