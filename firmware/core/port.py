# One charging port: its state, session, judge, relay, protection counters (it is its own
# Guard, protection.py) and meter bookkeeping, and the verbs the rest of the firmware uses
# on it.
#
# The port acts on verdicts: Protection (protection.py) and the Judge (judge.py) only
# decide; a trip opens the relay first (fail safe), then raises the alarm, then ends the
# session (journal, outbox). Cabinet-wide things (the feeder, the cabinet sensors, the
# alarms, the session numbering) stay in the App, which the port reaches as `cab` for its
# clock, relays, meters, persistence, events and alarms. Nothing here allocates on a
# steady reading.

from firmware.core import codes
from firmware.core.judge import JUDGED_FULL, Judge
from firmware.core.protection import Guard
from firmware.core.ticks import counter_diff, fresh

_ENDED_HOLD_MS = 30000  # an ended port shows "ended" this long, then "idle"
_LIVE = (codes.OPEN, codes.CHARGING, codes.FLOAT)
_TRIP_ALARMS = (codes.A_OVERCURRENT, codes.A_OVERPOWER, codes.A_PORT_OVERTEMP,
                codes.A_RELAY_WELDED)


class Port(Guard):
    """One port. It is its own protection Guard (protection.py: the counters Protection
    reads and counts), so a port is one object on the heap, not two."""

    def __init__(self, cab, p, now):
        self.cab = cab
        self.p = p
        self.state = codes.IDLE
        self.session = None
        self.judge = Judge(cab.rules)
        self.relay_on = False
        self.want_on = False  # waiting for its staggered relay closing
        self.resume_state = None  # where a deferred session goes back to
        self.lock_reason = None
        self.state_ms = now  # when the port entered its state
        m = cab.meters
        self.last_frames = m.frames[p]
        self.last_ms = now  # time of the last reading taken into account
        self.last_e = m.energy_mwh[p]
        Guard.__init__(self, now)

    # --- readings ---
    def on_reading(self, now, mw, ma, mv, e):
        """A fresh meter reading: protection first, then billing and the judgement."""
        cab = self.cab
        dt = cab.clock.ticks_diff(now, self.last_ms)
        self.last_ms = now
        de = counter_diff(e, self.last_e)  # meter counters wrap at 2**30 (small ints)
        self.last_e = e
        if self.silent:
            self._meter_back()
        verdict = cab.protection.reading(self, now, mw, ma, mv, self.relay_on)
        if verdict is not None:
            self.trip(verdict)
            return
        s = self.session
        if s is None or not self.relay_on:
            return
        s.charge_ms += dt
        if de > 0:
            s.mwh += de
            s.bill.add_energy(de, cab.clock.since2024_s())  # small int: TOU slot
        s.bill.add_time(dt, mw // 1000)
        if mw > s.peak_mw:
            s.peak_mw = mw
        reason = s.limit_reached()
        if reason is None:
            reason = self.judge.judge(dt, mw, e)
            if reason is None:
                if self.state == codes.OPEN and self.judge.loaded:
                    self._set_state(codes.CHARGING, now)
            elif reason == JUDGED_FULL:
                reason = None
                self._set_state(codes.FLOAT, now)
        if reason is None and s.charge_ms >= cab.max_ms:
            reason = codes.MAX_DURATION
        if reason is not None:
            self.end(reason)

    def trip(self, verdict):
        """Act on a protection verdict (reason, alarm, value): relay, alarm, lock."""
        reason, alarm, value = verdict
        cab = self.cab
        cab.relays.set(self.p, False)  # fail safe first, whatever the bookkeeping says
        cab.raise_alarm(alarm, self.p, codes.CRITICAL, value)
        self.end(reason, lock=True)

    def meter_silent(self):
        """The meter stopped answering: relay off, session ended, port in fault."""
        if self.silent:
            return
        self.silent = True
        cab = self.cab
        p = self.p
        code = codes.A_METER_GARBAGE if cab.meters.garbage(p) else codes.A_METER_SILENT
        running = self.session is not None
        cab.relays.set(p, False)
        cab.raise_alarm(code, p, codes.CRITICAL if running else codes.WARNING)
        if running:
            self.end(codes.METER_FAULT)
        elif self.relay_on:
            self.set_relay(False)
        if self.state != codes.LOCKED:
            self._set_state(codes.FAULT)

    def _meter_back(self):
        self.silent = False
        cab = self.cab
        cab.clear_alarm(codes.A_METER_SILENT, self.p)
        cab.clear_alarm(codes.A_METER_GARBAGE, self.p)
        if self.state == codes.FAULT:
            self._set_state(codes.IDLE)

    # --- relay and state ---
    def may_close(self):
        st = self.state
        return not (self.cab.protection.stopped() or self.silent
                    or st == codes.LOCKED or st == codes.FAULT)

    def set_relay(self, on):
        if on and not self.may_close():
            return
        cab = self.cab
        cab.relays.set(self.p, on)
        if self.relay_on != on:
            self.relay_on = on
            self.relay_changed(on, cab.clock.ticks_ms())
            cab.emit({"ev": "relay", "port": self.p, "on": on})

    def close(self, now):
        """Its staggered turn: the relay closes, metering counts from now."""
        self.want_on = False
        self.last_ms = now
        self.last_e = self.cab.meters.energy_mwh[self.p]
        self.set_relay(True)

    def _set_state(self, st, now=None):
        if self.state != st:
            cab = self.cab
            self.state = st
            self.state_ms = cab.clock.ticks_ms() if now is None else now
            cab.persist.save(self)
            cab.emit({"ev": "port", "port": self.p, "state": st})

    # --- sessions ---
    def start(self, s, now, at_once):
        """Take session s (checked by the App): open now, or deferred until there is room."""
        cab = self.cab
        self.session = s
        self.judge.reset(cab.meters.energy_mwh[self.p])
        cab.record(self, "session_start", {
            "id": s.sid + ":s", "sid": s.sid, "port": self.p, "start": s.start_epoch,
            "auth": s.auth, "limit": s.limit_dict(), "order": s.order})
        if at_once:
            self._set_state(codes.OPEN, now)
            self.want_on = True
        else:
            self.resume_state = codes.OPEN
            self._set_state(codes.DEFERRED, now)

    def pause(self, now):
        """Orderly charging: relay off, session kept, not timed or billed."""
        self.resume_state = self.state
        self.want_on = False
        self.set_relay(False)
        self._set_state(codes.DEFERRED, now)

    def resume(self, now):
        st = self.resume_state or codes.OPEN
        self.resume_state = None
        self._set_state(st, now)
        self.want_on = True

    def end(self, reason, lock=False):
        """End the session (relay off first). Safety stops lock the port."""
        cab = self.cab
        now = cab.clock.ticks_ms()
        self.want_on = False
        if self.relay_on:
            self.set_relay(False)
        s = self.session
        if s is not None:
            self.session = None
            cab.record(self, "session_end", {
                "id": s.sid + ":e", "sid": s.sid, "port": self.p, "start": s.start_epoch,
                "end": cab.clock.time(), "charge_s": s.charge_ms // 1000,
                "wh": (s.mwh // 100) / 10, "fen": s.bill.fen, "reason": reason,
                "peak_w": s.peak_mw // 1000, "auth": s.auth, "order": s.order,
                "limit": s.limit_dict()})
        if lock or reason in codes.SAFETY_STOPS:
            self.lock(reason)
        elif self.state not in (codes.LOCKED, codes.FAULT):
            self._set_state(codes.ENDED, now)

    def lock(self, reason):
        self.lock_reason = reason
        self._set_state(codes.LOCKED)
        self.cab.raise_alarm(codes.A_PORT_LOCKED, self.p, codes.WARNING, reason)

    def unlock(self):
        if self.state == codes.LOCKED:
            self.lock_reason = None
            self._set_state(codes.IDLE)
            # Staff inspected the port: its trip alarms end with the lock, so the screen
            # leaves the alarm and a new trip raises a new alarm.
            cab = self.cab
            for code in _TRIP_ALARMS:
                cab.clear_alarm(code, self.p)
            cab.clear_alarm(codes.A_PORT_LOCKED, self.p)

    # --- once a second ---
    def housekeeping(self, now):
        cab = self.cab
        clock = cab.clock
        diff = clock.ticks_diff
        # Stored ticks compared for ever: ages saturate (firmware/core/ticks.py).
        self.state_ms = fresh(clock, now, self.state_ms)
        self.last_ms = fresh(clock, now, self.last_ms)
        cab.protection.refresh(self, now)
        st = self.state
        if st == codes.ENDED and diff(now, self.state_ms) >= _ENDED_HOLD_MS:
            self._set_state(codes.IDLE, now)
        elif st == codes.DEFERRED:
            s = self.session
            # A session that waits longer than the hard cap (not counting an off-peak
            # start still ahead) ends rather than waiting forever.
            cap_s = cab.cfg["max_session_s"]
            if (s is not None and diff(now, self.state_ms) >= cap_s * 1000
                    and s.may_start(clock.since2024_s() - cap_s)):
                self.end(codes.MAX_DURATION)
        self.configure_judge()

    def configure_judge(self):
        """The cabinet's current judge rules (app.rules): at once when idle, else from the
        end of the session (a running session keeps the rules it started with)."""
        if self.session is None:
            self.judge.rules = self.cab.rules

    # --- persistence (store/persist.py) ---
    def snapshot(self):
        """(state, lock reason, session, energy counter, resume state) for the journal."""
        return (self.state, self.lock_reason, self.session, self.last_e, self.resume_state)

    def restore(self, snap, resume_ok):
        """Back from the journal at boot, before any relay may close. snap is what
        snapshot() gave (its energy counter was the last boot's meter: not this one's);
        resume_ok: the config lets a session go on after a power loss."""
        state, lock, s, _, resume = snap
        if lock:
            self.state = codes.LOCKED
            self.lock_reason = lock
        if s is None:
            self.cab.persist.save(self)
            return
        self.session = s
        self.resume_state = state if state in _LIVE else (resume or codes.OPEN)
        self.judge.reset(self.last_e)
        if state == codes.FLOAT or self.resume_state == codes.FLOAT:
            self.judge.float_again()  # judged full before the cut: float again
        if lock or not resume_ok:
            self.end(codes.POWER_LOSS)
        else:
            self.state = codes.DEFERRED  # resumes after the boot hold, staggered
            self.cab.persist.save(self)
