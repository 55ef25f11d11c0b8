# The cabinet application: ports, sessions, protection and orderly charging on one loop.
#
# `tick()` is called every control tick (10-50 ms on the device). It polls the meters
# (non-blocking), handles each fresh reading (protection first, then billing and the
# end-of-charge judgement), and runs the sensors, the feeder and the staggered relay
# closings. Nothing here waits on the network: records and alarms go out through `emit`,
# which only queues. Steady-state ticks allocate nothing.

from firmware.core import billing, codes
from firmware.core.door import DoorWatch
from firmware.core.feeder import Feeder
from firmware.core.protection import Protection
from firmware.core.session import Judge, Session, parse_limit
from firmware.core.ticks import counter_diff, fresh, fresh_all
from firmware.store.persist import NoPersist

_TRIP_ALARMS = (codes.A_OVERCURRENT, codes.A_OVERPOWER, codes.A_PORT_OVERTEMP,
                codes.A_RELAY_WELDED)
_ENDED_HOLD_MS = 30000  # an ended port shows "ended" this long, then "idle"
_SECOND_MS = 1000
# Judge thresholds (config keys): a `config` command applies them to a busy port from its
# next session, to an idle one at once.
JUDGE_KEYS = ("full_w", "full_confirm_s", "float_s", "taper_min_s", "no_load_w",
              "no_load_s", "unplug_w", "unplug_s")


class App:
    def __init__(self, board, cfg, emit, persist=None, wall=None):
        self.board = board
        self.clock = board.clock
        self.meters = board.meters
        self.relays = board.relays
        self.emit = emit
        self.cfg = cfg
        self.persist = persist = persist or NoPersist()
        self.wall = wall  # wallclock.WallClock on the device (main.py), else None
        self.boot_no = persist.boot_no
        self.n = n = cfg["ports"]
        self.tariff = self.tariff_for(None)
        now = self.clock.ticks_ms()
        m = self.meters
        self.state = [codes.IDLE] * n
        self.sessions = [None] * n
        self.judges = [Judge(cfg) for _ in range(n)]
        self.relay_on = [False] * n
        self.want_on = [False] * n  # waiting for its staggered relay closing
        self.resume_state = [None] * n  # where a deferred session goes back to
        self.lock_reason = [None] * n
        self.state_ms = [now] * n  # when the port entered its state
        self.last_frames = [m.frames[p] for p in range(n)]
        self.last_ms = [now] * n  # time of the last reading taken into account
        self.last_e = [m.energy_mwh[p] for p in range(n)]
        self.seq = 0  # sessions started this boot
        self.alarm_seq = 0
        self.alarms = {}  # (code, port) -> level, for the raised ones
        self.cabinet_stop = False  # too hot or smoke: no new session
        self.feeder = Feeder(self, cfg)
        self.protection = Protection(self, cfg)
        self.door = DoorWatch(cfg, self.clock, self.raise_alarm, self.clear_alarm)
        self.last_close_ms = self.clock.ticks_add(now, -cfg["relay_stagger_ms"])
        self.next_second = now
        # After power-on no relay closes for boot_hold_s (FIELD_FACTS: vendors wait 10 s).
        self.hold_until = self.clock.ticks_add(now, int(cfg["boot_hold_s"] * 1000))
        self.outbox_full = False
        self._stale = [False] * n  # judges to reconfigure once their session ends
        persist.restore(self)  # every port back from the journal before any relay closes

    # --- the loop ---
    def tick(self):
        clock = self.clock
        now = clock.ticks_ms()
        m = self.meters
        m.poll()
        frames = m.frames
        last = self.last_frames
        for p in range(self.n):
            if frames[p] != last[p]:
                last[p] = frames[p]
                self._reading(p, now)
            elif m.silent(p):
                self.protection.meter_silent(p)
        if clock.ticks_diff(now, self.next_second) >= 0:
            self.next_second = clock.ticks_add(now, _SECOND_MS)
            self.protection.sensors()
            self.door.second(self.board.sensors.door_open(), now)
            self.feeder.balance(now)
            self._housekeeping(now)
            self.persist.checkpoint(self, now)
            if True in self._stale:
                self._configure_judges()
        self._close_next(now)

    def _reading(self, p, now):
        m = self.meters
        dt = self.clock.ticks_diff(now, self.last_ms[p])
        self.last_ms[p] = now
        mw = m.mw[p]
        e = m.energy_mwh[p]
        de = counter_diff(e, self.last_e[p])  # meter counters wrap at 2**30 (small ints)
        self.last_e[p] = e
        if self.protection.reading(p, now, dt, mw, m.ma[p], m.mv[p]):
            return  # tripped: the relay is already open
        s = self.sessions[p]
        if s is None or not self.relay_on[p]:
            return
        s.charge_ms += dt
        if de > 0:
            s.mwh += de
            s.bill.add_energy(de, self.clock.since2024_s())  # small int: TOU slot
        s.bill.add_time(dt, mw // 1000)
        if mw > s.peak_mw:
            s.peak_mw = mw
        reason = s.limit_reached()
        if reason is None:
            reason, newly_full = self.judges[p].judge(dt, mw, e)
            if newly_full:
                self._set_state(p, codes.FLOAT, now)
            elif reason is None and self.state[p] == codes.OPEN and self.judges[p].loaded:
                self._set_state(p, codes.CHARGING, now)
        if reason is None and s.charge_ms >= self.cfg["max_session_s"] * 1000:
            reason = codes.MAX_DURATION
        if reason is not None:
            self.end(p, reason)

    def _housekeeping(self, now):
        clock = self.clock
        diff = clock.ticks_diff
        # Stored ticks compared for ever: ages saturate (firmware/core/ticks.py).
        self.last_close_ms = fresh(clock, now, self.last_close_ms)
        self.hold_until = fresh(clock, now, self.hold_until)
        fresh_all(clock, now, self.state_ms)
        fresh_all(clock, now, self.last_ms)
        self.feeder.refresh(now)
        self.protection.refresh(now)
        if self.outbox_full and not self.persist.nearly_full():
            self.outbox_full = False  # delivered: new sessions are welcome again
            self.clear_alarm(codes.A_OUTBOX_FULL, None)
        for p in range(self.n):
            st = self.state[p]
            if st == codes.ENDED and diff(now, self.state_ms[p]) >= _ENDED_HOLD_MS:
                self._set_state(p, codes.IDLE, now)
            elif st == codes.DEFERRED:
                s = self.sessions[p]
                # A session that waits longer than the hard cap (not counting an off-peak
                # start still ahead) ends rather than waiting forever.
                cap_s = self.cfg["max_session_s"]
                if (s is not None and diff(now, self.state_ms[p]) >= cap_s * 1000
                        and s.may_start(self.clock.since2024_s() - cap_s)):
                    self.end(p, codes.MAX_DURATION)

    def _close_next(self, now):
        # Relay closings are staggered to spread the chargers' inrush current.
        if self.clock.ticks_diff(now, self.last_close_ms) < self.cfg["relay_stagger_ms"]:
            return
        if self.clock.ticks_diff(now, self.hold_until) < 0:
            return
        best = -1
        for p in range(self.n):
            if self.want_on[p] and (best < 0 or self.sessions[p].seq < self.sessions[best].seq):
                best = p
        if best >= 0:
            self.want_on[best] = False
            self.last_close_ms = now
            self.last_ms[best] = now
            self.last_e[best] = self.meters.energy_mwh[best]
            self.set_relay(best, True)

    # --- relays and states ---
    def set_relay(self, p, on):
        if on:
            if not self.protection.may_close(p):
                return
        self.relays.set(p, on)
        if self.relay_on[p] != on:
            self.relay_on[p] = on
            self.protection.relay_changed(p, on)
            self.emit({"ev": "relay", "port": p, "on": on})

    def _set_state(self, p, st, now=None):
        if self.state[p] != st:
            self.state[p] = st
            self.state_ms[p] = self.clock.ticks_ms() if now is None else now
            self.persist.save(self, p)
            self.emit({"ev": "port", "port": p, "state": st})

    def _record(self, p, kind, payload):
        """A session record: durable (journal + outbox) first, then logged."""
        payload["ev"] = kind  # on the wire too: both kinds share the event topic
        self.persist.put_record(self, p, kind, payload)
        ev = dict(payload)
        ev["ev"] = kind
        self.emit(ev)

    # --- sessions ---
    def tariff_for(self, spec):
        """The billing.Tariff of a session: the cabinet's prices, with those in spec (a
        dict of tariff config keys, from a start command) in their place. ValueError when
        spec holds a bad price."""
        return billing.tariff(self.cfg, spec)

    def start(self, p, auth, limit, order=None, offpeak=False, tariff=None):
        """Open port p for a session. Returns None, or the refusal code (PROTOCOL.md).
        tariff: None (the cabinet's prices) or a dict of tariff keys for this session."""
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < self.n:
            return codes.E_BAD_ARGS
        kind, value = parse_limit(limit)
        if kind is None:
            return codes.E_BAD_ARGS
        prices = self.tariff
        if tariff is not None:
            try:
                prices = self.tariff_for(tariff)
            except (ValueError, TypeError, OverflowError):
                return codes.E_BAD_ARGS
        st = self.state[p]
        if st == codes.LOCKED:
            return codes.E_PORT_LOCKED
        if st == codes.FAULT or self.cabinet_stop:
            return codes.E_PORT_FAULT
        if self.sessions[p] is not None:
            return codes.E_PORT_BUSY
        if self.persist.nearly_full():
            self.outbox_full = True
            self.raise_alarm(codes.A_OUTBOX_FULL, None, codes.CRITICAL)
            return codes.E_PORT_FAULT  # records could no longer be kept: refuse first
        room = self.feeder.has_room(self.cfg["start_reserve_w"] * 1000)
        if not room and self.cfg["feeder_full_action"] == "refuse":
            return codes.E_FEEDER_FULL
        now = self.clock.ticks_ms()
        self.seq += 1
        sid = "%s-%d-%d" % (self.cfg["cabinet_id"], self.boot_no, self.seq)
        s = Session(sid, p, auth, kind, value, order, self.clock.time(), billing.Bill(prices))
        s.seq = self.boot_no * 100000 + self.seq
        s.tariff = tariff
        if offpeak:
            s.not_before = self.feeder.offpeak_epoch(s.start_epoch)
        self.sessions[p] = s
        self.judges[p].reset(self.meters.energy_mwh[p])
        self._record(p, "session_start", {"id": sid + ":s", "sid": sid, "port": p,
                                          "start": s.start_epoch, "auth": auth,
                                          "limit": s.limit_dict(), "order": order})
        if room and s.not_before <= s.start_epoch:
            self._open(p, now)
        else:
            self.resume_state[p] = codes.OPEN
            self._set_state(p, codes.DEFERRED, now)
        return None

    def _open(self, p, now):
        self._set_state(p, codes.OPEN, now)
        self.want_on[p] = True

    def pause(self, p, now):
        """Orderly charging: relay off, session kept, not timed or billed."""
        self.resume_state[p] = self.state[p]
        self.want_on[p] = False
        self.set_relay(p, False)
        self._set_state(p, codes.DEFERRED, now)

    def resume(self, p, now):
        st = self.resume_state[p] or codes.OPEN
        self.resume_state[p] = None
        self._set_state(p, st, now)
        self.want_on[p] = True

    def stop(self, p, reason):
        """User or remote stop. Returns None or a refusal code."""
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < self.n:
            return codes.E_BAD_ARGS
        if self.sessions[p] is None:
            return codes.E_BAD_ARGS
        self.end(p, reason)
        return None

    def end(self, p, reason, lock=False):
        """End port p's session (relay off first). Safety stops lock the port."""
        now = self.clock.ticks_ms()
        self.want_on[p] = False
        if self.relay_on[p]:
            self.set_relay(p, False)
        s = self.sessions[p]
        if s is not None:
            self.sessions[p] = None
            self._record(p, "session_end", {
                "id": s.sid + ":e", "sid": s.sid, "port": p, "start": s.start_epoch,
                "end": self.clock.time(), "charge_s": s.charge_ms // 1000,
                "wh": (s.mwh // 100) / 10, "fen": s.bill.fen, "reason": reason,
                "peak_w": s.peak_mw // 1000, "auth": s.auth, "order": s.order,
                "limit": s.limit_dict()})
        if lock or reason in codes.SAFETY_STOPS:
            self.lock(p, reason)
        elif self.state[p] not in (codes.LOCKED, codes.FAULT):
            self._set_state(p, codes.ENDED, now)

    def lock(self, p, reason):
        self.lock_reason[p] = reason
        self._set_state(p, codes.LOCKED)
        self.raise_alarm(codes.A_PORT_LOCKED, p, codes.WARNING, reason)

    def unlock(self, p):
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < self.n:
            return codes.E_BAD_ARGS
        if self.state[p] == codes.LOCKED:
            self.lock_reason[p] = None
            self._set_state(p, codes.IDLE)
            # Staff inspected the port: its trip alarms end with the lock, so the screen
            # leaves the alarm and a new trip raises a new alarm.
            for code in _TRIP_ALARMS:
                self.clear_alarm(code, p)
            self.clear_alarm(codes.A_PORT_LOCKED, p)
        return None

    def estop(self):
        """Remote emergency cut-off: every relay off now, then every session ends."""
        for p in range(self.n):
            self.relays.set(p, False)
        for p in range(self.n):
            self.end(p, codes.ESTOP)

    # --- alarms ---
    def raise_alarm(self, code, port, level, value=None):
        key = (code, port)
        if self.alarms.get(key) == level:
            return
        self.alarms[key] = level
        self._alarm(code, port, level, codes.RAISED, value)

    def clear_alarm(self, code, port, value=None):
        key = (code, port)
        if key in self.alarms:
            level = self.alarms.pop(key)
            self._alarm(code, port, level, codes.CLEARED, value)

    def _alarm(self, code, port, level, state, value):
        self.alarm_seq += 1
        payload = {"id": "%s-%d-a%d" % (self.cfg["cabinet_id"], self.boot_no, self.alarm_seq),
                   "code": code, "port": port, "level": level, "state": state,
                   "value": value, "t": self.clock.time()}
        self.persist.put_alarm(payload)
        ev = dict(payload)
        ev["ev"] = "alarm"
        ev["epoch"] = payload["t"]
        self.emit(ev)

    # --- configuration (a `config` command) ---
    def configure(self, cfg, keys):
        """New thresholds in cfg for the config keys `keys`: protection and the feeder at
        once, each judge when its port has no session (from the session's end)."""
        self.tariff = billing.tariff(cfg)  # sessions started from now on
        self.protection.configure(cfg)
        self.feeder.configure(cfg)
        for k in keys:
            if k in JUDGE_KEYS:
                for p in range(self.n):
                    self._stale[p] = True
                break
        self._configure_judges()

    def _configure_judges(self):
        for p in range(self.n):
            if self._stale[p] and self.sessions[p] is None:
                self.judges[p].configure(self.cfg)
                self._stale[p] = False

    # --- views (for the protocol and the panel; they never write into the app) ---
    def port_power_w(self, p):
        return self.meters.mw[p] // 1000

    def port_state(self, p):
        return self.state[p]

    def session(self, p):
        """Port p's Session, or None."""
        return self.sessions[p]

    def busy(self):
        """True while any port has a session."""
        for s in self.sessions:
            if s is not None:
                return True
        return False

    def settled(self, now, settle_ms):
        """True when no relay has moved in the last settle_ms (a reboot may cut power)."""
        diff = self.clock.ticks_diff
        if diff(now, self.last_close_ms) < settle_ms:
            return False
        return self.protection.settled(now, settle_ms)

    def critical_alarm(self):
        """(code, port) of a raised critical alarm, or None."""
        for key in self.alarms:
            if self.alarms[key] == codes.CRITICAL:
                return key
        return None

