# The cabinet application: the ports (port.py), and what they share: the feeder, the
# cabinet sensors, the alarms, the session numbering and the staggered relay closings.
#
# `tick()` is called every control tick (10-50 ms on the device). It polls the meters
# (non-blocking) and hands each fresh reading to its Port (protection first, then billing
# and the end-of-charge judgement); once a second it runs the sensors, the feeder and each
# port's housekeeping; then the next staggered relay closing. Nothing here waits on the
# network: records and alarms go out through `emit`, which only queues. Steady-state ticks
# allocate nothing.

from firmware.core import billing, codes
from firmware.core.door import DoorWatch
from firmware.core.feeder import Feeder
from firmware.core.judge import Rules
from firmware.core.nopersist import NoPersist
from firmware.core.port import Port
from firmware.core.protection import Protection
from firmware.core.session import Session, parse_limit
from firmware.core.ticks import fresh

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
        self.n = n = cfg["ports"]
        self.tariff = self.tariff_for(None)
        now = self.clock.ticks_ms()
        self.protection = Protection(self.clock, board.sensors, self, cfg)
        self.rules = Rules(cfg)  # the judges' thresholds (judge.py), shared
        self.max_ms = int(cfg["max_session_s"] * 1000)  # the hard cap, read per reading
        self.ports = [Port(self, p, now) for p in range(n)]
        self.seq = 0  # sessions started this boot
        self.alarm_seq = 0
        self.alarms = {}  # (code, port) -> level, for the raised ones
        self.feeder = Feeder(self, cfg)
        self.door = DoorWatch(cfg, self.clock, self)
        self.last_close_ms = self.clock.ticks_add(now, -cfg["relay_stagger_ms"])
        self.next_second = now
        # After power-on no relay closes for boot_hold_s (FIELD_FACTS: vendors wait 10 s).
        self.hold_until = self.clock.ticks_add(now, int(cfg["boot_hold_s"] * 1000))
        self.outbox_full = False
        persist.restore(self)  # every port back from the journal before any relay closes

    # --- the loop ---
    @property
    def boot_no(self):
        return self.persist.boot_no  # this boot's number (session and alarm ids)

    def tick(self):
        clock = self.clock
        now = clock.ticks_ms()
        m = self.meters
        m.poll()
        frames = m.frames
        ports = self.ports
        for p in range(self.n):
            port = ports[p]
            if frames[p] != port.last_frames:
                port.last_frames = frames[p]
                port.on_reading(now, m.mw[p], m.ma[p], m.mv[p], m.energy_mwh[p])
            elif m.silent(p):
                port.meter_silent()
        if clock.ticks_diff(now, self.next_second) >= 0:
            self.next_second = clock.ticks_add(now, _SECOND_MS)
            self._sensors()
            self.door.second(self.board.sensors.door_open(), now)
            self.feeder.balance(now)
            self._housekeeping(now)
            self.persist.checkpoint(self, now)
        self._close_next(now)

    def _sensors(self):
        pr = self.protection
        verdict = pr.cabinet()
        if verdict is not None:
            self._stop_all(verdict, False)
        for p in range(self.n):
            verdict = pr.port_temp(p)
            port = self.ports[p]
            if verdict is not None and (port.session is not None or port.state != codes.LOCKED):
                port.trip(verdict)
        verdict = pr.smoke_check()
        if verdict is not None:
            self._stop_all(verdict, True)

    def _stop_all(self, verdict, lock_all):
        """A cabinet verdict (reason, alarm, value): every relay off at once, the alarm, then
        every session ends (lock_all: every port locks until inspected)."""
        reason, alarm, value = verdict
        for p in range(self.n):
            self.relays.set(p, False)  # every relay off at once, then the bookkeeping
        self.raise_alarm(alarm, None, codes.CRITICAL, value)
        for port in self.ports:
            if lock_all:
                port.end(reason, lock=True)
            elif port.session is not None:
                port.end(reason)

    def _housekeeping(self, now):
        clock = self.clock
        # Stored ticks compared for ever: ages saturate (firmware/core/ticks.py).
        self.last_close_ms = fresh(clock, now, self.last_close_ms)
        self.hold_until = fresh(clock, now, self.hold_until)
        self.feeder.refresh(now)
        if self.outbox_full and not self.persist.nearly_full():
            self.outbox_full = False  # delivered: new sessions are welcome again
            self.clear_alarm(codes.A_OUTBOX_FULL, None)
        ports = self.ports
        for p in range(self.n):
            ports[p].housekeeping(now)

    def _close_next(self, now):
        # Relay closings are staggered to spread the chargers' inrush current.
        if self.clock.ticks_diff(now, self.last_close_ms) < self.cfg["relay_stagger_ms"]:
            return
        if self.clock.ticks_diff(now, self.hold_until) < 0:
            return
        ports = self.ports
        best = None
        for p in range(self.n):
            port = ports[p]
            if port.want_on and (best is None or port.session.seq < best.session.seq):
                best = port
        if best is not None:
            self.last_close_ms = now
            best.close(now)

    def record(self, port, kind, payload):
        """A session record: durable (journal + outbox) first, then logged."""
        payload["ev"] = kind  # on the wire too: both kinds share the event topic
        self.persist.put_record(port, kind, payload)
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
        if not _port_no(p, self.n):
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
        port = self.ports[p]
        st = port.state
        if st == codes.LOCKED:
            return codes.E_PORT_LOCKED
        if st == codes.FAULT or self.protection.stopped():
            return codes.E_PORT_FAULT
        if port.session is not None:
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
        port.start(s, now, room and s.not_before <= s.start_epoch)
        return None

    def stop(self, p, reason):
        """User or remote stop. Returns None or a refusal code."""
        if not _port_no(p, self.n) or self.ports[p].session is None:
            return codes.E_BAD_ARGS
        self.ports[p].end(reason)
        return None

    def unlock(self, p):
        if not _port_no(p, self.n):
            return codes.E_BAD_ARGS
        self.ports[p].unlock()
        return None

    def estop(self):
        """Remote emergency cut-off: every relay off now, then every session ends."""
        for p in range(self.n):
            self.relays.set(p, False)
        for p in range(self.n):
            self.ports[p].end(codes.ESTOP)

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
        self.max_ms = int(cfg["max_session_s"] * 1000)  # live: running sessions too
        for k in keys:
            if k in JUDGE_KEYS:
                self.rules = Rules(cfg)
                for port in self.ports:
                    port.configure_judge()
                break

    # --- views (for the protocol and the panel; they never write into the app) ---
    def port_power_w(self, p):
        return self.meters.mw[p] // 1000

    def port_state(self, p):
        return self.ports[p].state

    def session(self, p):
        """Port p's Session, or None."""
        return self.ports[p].session

    def lock_reason(self, p):
        """Why port p is locked, or None."""
        return self.ports[p].lock_reason

    def cabinet_stop(self):
        """True while smoke or a hot cabinet stops every port."""
        return self.protection.stopped()

    def busy(self):
        """True while any port has a session."""
        for port in self.ports:
            if port.session is not None:
                return True
        return False

    def settled(self, now, settle_ms):
        """True when no relay has moved in the last settle_ms (a reboot may cut power)."""
        diff = self.clock.ticks_diff
        if diff(now, self.last_close_ms) < settle_ms:
            return False
        for port in self.ports:
            if diff(now, port.off_ms) < settle_ms:
                return False
        return True

    def critical_alarm(self):
        """(code, port) of a raised critical alarm, or None."""
        for key in self.alarms:
            if self.alarms[key] == codes.CRITICAL:
                return key
        return None


def _port_no(p, n):
    """p is a port number of this cabinet (a command's argument, checked)."""
    return isinstance(p, int) and not isinstance(p, bool) and 0 <= p < n
