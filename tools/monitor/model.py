"""What the monitor knows about cabinets, ports, alarms and the day's events, built from
MQTT messages.

Pure logic (no MQTT client, no UI): `Model.handle(topic, payload)` takes one message.

Topics (PROTOCOL.md): `{prefix}/{cabinet}/status|telemetry|event|alarm`.

- status (retained): birth `{"online": true, "fw": "...", "ports": N, ...}`, last will
  `{"online": false}`; an empty retained payload (status cleared) forgets the cabinet.
- telemetry, the compact format the monitor reads (extra keys are ignored, a missing key
  keeps its last value)::

      {"t": 1764201600,                      # optional, epoch s
       "ports": [{"p": 0,                    # port number on the wire, 0-based
                  "s": "charging",           # state (firmware/core/codes.py port states)
                  "w": 180,                  # power, W
                  "wh": 12.3,                # session energy so far, Wh
                  "fen": 5,                  # session cost so far, fen
                  "el": 600,                 # session elapsed (charging) time, s
                  "sid": "..."},             # optional session id
                 ...],
       "full": true}                         # optional: every port is listed

  The firmware lists only the ports in a session or whose state changed since its last
  message, and every port in a "full" one (docs/protocol.md, "Telemetry"); a port not
  listed keeps its values here.

- event: `session_start` / `session_end` records (session id, start, end reason). A
  session_end's `wh` and `fen` are the session's final figures: they replace the last
  telemetry's running ones on the port (telemetry lists `wh`/`fen` only during a session).
- alarm: `id`, `code`, `port` (null: the cabinet), `level`, `state`, `value`, `t`
  (`epoch` is read when `t` is missing). `id` is the record's (raised and cleared records
  of one alarm have different ids; it de-duplicates redelivery); an alarm is (cabinet,
  `code`, `port`): the firmware keeps at most one raised per code and port, and a
  `cleared` record ends it.

Ports are shown 1-based (as printed on the QR stickers); the wire numbers are 0-based.
The alarm feed is newest first by arrival, de-duplicated by (cabinet, alarm id), bounded:
one row per alarm. A cleared record is folded into the raised row(s) of its (cabinet, code,
port), which are marked cleared; only a clear whose raise is unknown here (raised before
the monitor listened, or dropped from the bounded feed) gets a row of its own. An
unacknowledged critical is a raised critical row not yet acknowledged, cleared or not: a
critical alarm that ended still wants a staff acknowledgement, once.
Acknowledgement is local to the model.

The event feed ("the day's events") is newest first by arrival, bounded, one row per
session_start and session_end record (de-duplicated by (cabinet, record id) like the
alarms; a redelivered record changes nothing, not even its port), per change of a
cabinet's status (online / offline; a birth while online, e.g. on a `status` command, is
no event unless its `boot` counter moved: a restart), per retired cabinet, and per change
of the monitor's own link to the broker (`link_event`, called by the app). A row's time
`t` is the cabinet's clock (epoch s) where it has one: a session_start's `start`, a
session_end's `end`. A status carries no time: an offline one is stamped with the
cabinet's clock as estimated from its last telemetry (its `t` plus the wall time since;
the wall time when none came), an online one with the `t` of the cabinet's next telemetry
(the firmware sends one at every connect; `t` is None until then, and the UI shows the
arrival time). The monitor's own rows carry its wall clock. Event.text is the short line
shown after the time and the cabinet.

A scope (prefix glob / cabinet glob) drops messages from other sites; a view filter
(cabinet glob) narrows what is shown (the monitor's own events are always shown).
"""

import fnmatch
import json
import time

KINDS = ("status", "telemetry", "event", "alarm")
CRITICAL = "critical"
MAX_ALARMS = 500
MAX_EVENTS = 500
MAX_BAD = 50
MONITOR = "monitor"  # the cabinet column of the monitor's own events


def hms(s):
    """Seconds as H:MM:SS ("" for None)."""
    if s is None:
        return ""
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def _epoch(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def limit_text(limit):
    """A session limit (PROTOCOL.md start `limit`) in a few characters: full, 240 min,
    200 Wh, 30 fen."""
    if not isinstance(limit, dict) or not limit:
        return None
    if limit.get("full"):
        return "full"
    for key, unit in (("minutes", "min"), ("wh", "Wh"), ("fen", "fen")):
        if key in limit:
            return "%s %s" % (limit[key], unit)
    return None


def auth_text(auth):
    """How a session was started: 'card:<id>' -> card, remote, or the value's kind."""
    if not isinstance(auth, str) or not auth:
        return None
    return auth.partition(":")[0]


def parse_site(site, default_prefix="ebike"):
    """'PREFIX/CABINET-GLOB' or 'CABINET-GLOB' -> (prefix_glob, cabinet_glob)."""
    if not site:
        return default_prefix, "*"
    prefix, sep, cab = site.partition("/")
    if not sep:
        return default_prefix, site
    if not prefix or not cab or "/" in cab:
        raise ValueError("--site %r: expected PREFIX/CABINET-GLOB, e.g. ebike/garden-*" % site)
    return prefix, cab


def subscriptions(prefix_glob):
    """MQTT topic filters for a prefix glob: a plain prefix, or '+' for any glob."""
    level = prefix_glob if not any(c in prefix_glob for c in "*?[") else "+"
    return ["%s/+/%s" % (level, k) for k in KINDS]


class Port:
    def __init__(self, p):
        self.p = p  # 0-based wire number
        self.state = None
        self.w = None
        self.wh = None
        self.fen = None
        self.el = None  # session elapsed, s (from telemetry)
        self.sid = None
        self.start = None  # epoch s, from session_start
        self.auth = None
        self.last_end = None  # (reason, wh, fen) of the last session_end
        self.updated = None  # monotonic time of the last update

    def elapsed(self, wall_now):
        if self.el is not None:
            return self.el
        if self.sid and self.start:
            return max(0, wall_now - self.start)
        return None


class Cabinet:
    def __init__(self, root):
        self.root = root  # "prefix/cabinet"
        self.prefix, _, self.id = root.partition("/")
        self.online = None  # None: no status seen yet
        self.fw = None
        self.nports = None
        self.ports = {}
        self.last_seen = None  # monotonic
        self.boot = None  # the birth's boot counter
        self.tel_t = None  # `t` of the last telemetry (the cabinet's clock, epoch s)
        self.tel_wall = None  # wall time that telemetry arrived
        self.pending_online = []  # online events waiting for the next telemetry's `t`

    def clock_estimate(self, wall_now):
        """The cabinet's clock now, from its last telemetry; wall_now when none came."""
        if self.tel_t is None:
            return wall_now
        return self.tel_t + max(0, wall_now - self.tel_wall)

    def port(self, p):
        if p not in self.ports:
            self.ports[p] = Port(p)
        return self.ports[p]

    def port_list(self):
        n = self.nports or 0
        for p in range(n):
            self.port(p)
        return [self.ports[p] for p in sorted(self.ports)]


class Alarm:
    def __init__(self, root, rec, seq, received):
        self.root = root
        self.cabinet = root.partition("/")[2]
        self.id = str(rec.get("id"))
        self.key = "%s#%s" % (root, self.id)
        self.code = str(rec.get("code", "?"))
        self.port = rec.get("port") if isinstance(rec.get("port"), int) else None
        self.level = rec.get("level", "warning")
        self.state = rec.get("state", "raised")
        self.value = rec.get("value")
        self.t = rec.get("t", rec.get("epoch"))
        self.seq = seq
        self.received = received
        self.acked = False
        self.cleared = False  # a raised alarm later cleared by a matching record
        self.cleared_t = None  # `t` of that cleared record
        self.clear_keys = []  # keys of the cleared records folded into this row
        self.record = rec

    @property
    def critical(self):
        return self.level == CRITICAL

    def where(self):
        return "cabinet" if self.port is None else "port %d" % (self.port + 1)

    def text(self):
        v = "" if self.value is None else " value=%s" % self.value
        return "%s %s %s %s at %s%s" % (self.level.upper(), self.code, self.state,
                                        self.cabinet, self.where(), v)

    def as_dict(self):
        return {"cabinet": self.cabinet, "root": self.root, "id": self.id, "code": self.code,
                "port": self.port, "level": self.level, "state": self.state,
                "value": self.value, "t": self.t}


class Event:
    """One row of the event feed. cabinet is None for the monitor's own events."""

    def __init__(self, root, kind, text, t, seq, received, key=None, port=None, reason=None):
        self.root = root
        self.cabinet = root.partition("/")[2] if root else None
        self.kind = kind  # session_start, session_end, online, offline, retired, link
        self.text = text
        self.t = t  # epoch s (see the module doc), None: received
        self.seq = seq
        self.received = received
        self.key = key or "#%d" % seq  # (cabinet, record id) for records
        self.port = port  # 0-based wire number
        self.reason = reason  # a session_end's reason

    def who(self):
        return self.cabinet or MONITOR

    def as_dict(self):
        return {"cabinet": self.cabinet, "kind": self.kind, "text": self.text, "t": self.t,
                "port": self.port, "reason": self.reason}


def session_start_text(msg, p):
    how = [x for x in (auth_text(msg.get("auth")), limit_text(msg.get("limit"))) if x]
    if msg.get("order"):
        how.append("order %s" % msg["order"])
    return "port %d started" % (p + 1) + (" (%s)" % ", ".join(how) if how else "")


def session_end_text(msg, p):
    """port N ended: reason, Wh, fen, charging time (charge_s: outages excluded)."""
    parts = [str(msg.get("reason") or "?")]
    if isinstance(msg.get("wh"), (int, float)):
        parts.append("%.1f Wh" % msg["wh"])
    if isinstance(msg.get("fen"), int):
        parts.append("%d fen" % msg["fen"])
    dur = msg.get("charge_s")
    if not isinstance(dur, (int, float)):
        start, end = _epoch(msg.get("start")), _epoch(msg.get("end"))
        dur = end - start if start is not None and end is not None and end >= start else None
    if dur is not None:
        parts.append(hms(dur))
    return "port %d ended: %s" % (p + 1, ", ".join(parts))


class Model:
    def __init__(self, prefix_glob="ebike", cabinet_glob="*", max_alarms=MAX_ALARMS,
                 clock=time.monotonic, wall=time.time, max_events=MAX_EVENTS):
        self.prefix_glob = prefix_glob
        self.cabinet_glob = cabinet_glob
        self.view_glob = "*"
        self.max_alarms = max_alarms
        self.max_events = max_events
        self.clock = clock
        self.wall = wall
        self.cabinets = {}
        self.alarms = []  # newest first
        self._by_key = {}
        self._seq = 0
        self.events = []  # newest first
        self._event_keys = set()
        self._event_seq = 0
        self.link_state = None  # the last link_event text
        self.bad = []  # (topic, reason), newest last, bounded
        self.messages = 0

    # ------------------------------------------------------------ input
    def in_scope(self, prefix, cabinet):
        return (fnmatch.fnmatchcase(prefix, self.prefix_glob)
                and fnmatch.fnmatchcase(cabinet, self.cabinet_glob))

    def handle(self, topic, payload):
        """Apply one message. Returns the Alarm of a new (not redelivered) alarm record,
        else None: a raised record is a new row of the feed; a cleared record is folded into
        its alarm's raised row when the feed has one (the returned Alarm is then the clear
        record itself, not in the feed)."""
        parts = topic.split("/")
        if len(parts) != 3 or parts[2] not in KINDS or not parts[1]:
            return None
        prefix, cab, kind = parts
        if not self.in_scope(prefix, cab):
            return None
        self.messages += 1
        root = prefix + "/" + cab
        if kind == "status" and not payload:
            # retained status cleared: the cabinet is retired
            if self.cabinets.pop(root, None) is not None:
                self._add_event(root, "retired", "retired (status cleared)", None)
            return None
        try:
            msg = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            self._bad(topic, "not JSON")
            return None
        if not isinstance(msg, dict):
            self._bad(topic, "not a JSON object")
            return None
        c = self.cabinets.get(root)
        if c is None:
            c = self.cabinets[root] = Cabinet(root)
        c.last_seen = self.clock()
        if kind == "alarm":
            return self._alarm(c, msg, topic)
        getattr(self, "_" + kind)(c, msg, topic)
        return None

    def _bad(self, topic, why):
        self.bad.append((topic, why))
        del self.bad[:-MAX_BAD]

    def _status(self, c, msg, topic):
        if not isinstance(msg.get("online"), bool):
            self._bad(topic, "status without online true/false")
            return
        was, c.online = c.online, msg["online"]
        boot = msg.get("boot") if isinstance(msg.get("boot"), int) else None
        if c.online:
            c.fw = msg.get("fw", c.fw)
            n = msg.get("ports")
            if isinstance(n, int) and 0 < n <= 64:
                c.nports = n
        t = _epoch(msg.get("t"))
        if was is not c.online or (c.online and boot is not None and c.boot is not None
                                   and boot != c.boot):
            if c.online:
                text = "online"
                if was is None and c.fw:
                    text += " (fw %s)" % c.fw
                elif boot is not None and c.boot is not None and boot != c.boot:
                    text += " (restarted: boot %d)" % boot
                ev = self._add_event(c.root, "online", text, t)
                if t is None:
                    c.pending_online.append(ev)  # stamped by the next telemetry
            else:
                c.pending_online = []
                self._add_event(c.root, "offline", "offline",
                                t if t is not None else c.clock_estimate(self.wall()))
        if c.online and boot is not None:
            c.boot = boot

    def _telemetry(self, c, msg, topic):
        ports = msg.get("ports")
        if not isinstance(ports, list):
            self._bad(topic, "telemetry without a ports list")
            return
        if c.online is None:
            c.online = True  # telemetry flows, so the cabinet is up even before a status
        t = _epoch(msg.get("t"))
        if t is not None:
            c.tel_t, c.tel_wall = t, self.wall()
            for ev in c.pending_online:
                ev.t = t
            c.pending_online = []
        now = self.clock()
        for e in ports:
            if not isinstance(e, dict) or not isinstance(e.get("p"), int) or not 0 <= e["p"] < 64:
                self._bad(topic, "telemetry port entry without p")
                continue
            port = c.port(e["p"])
            for src, dst in (("s", "state"), ("w", "w"), ("wh", "wh"), ("fen", "fen"),
                             ("el", "el"), ("sid", "sid")):
                if src in e:
                    setattr(port, dst, e[src])
            port.updated = now

    def _event(self, c, msg, topic):
        ev = msg.get("ev", msg.get("type", msg.get("kind")))
        p = msg.get("port")
        if not isinstance(p, int) or not 0 <= p < 64:
            self._bad(topic, "event without a port")
            return
        start = ev == "session_start" or (ev is None and "end" not in msg)
        if not start and not (ev == "session_end" or "reason" in msg):
            return
        key = None
        if msg.get("id") is not None:
            key = "%s#%s" % (c.root, msg["id"])
            if key in self._event_keys:
                return  # at-least-once delivery: a duplicate, already applied
        port = c.port(p)
        if start:
            self._add_event(c.root, "session_start", session_start_text(msg, p),
                            _epoch(msg.get("start")), key, p)
        else:
            self._add_event(c.root, "session_end", session_end_text(msg, p),
                            _epoch(msg.get("end")), key, p, msg.get("reason"))
        if start:
            port.sid, port.start, port.auth = msg.get("sid"), msg.get("start"), msg.get("auth")
            port.wh = port.fen = port.el = None
            port.last_end = None
        else:
            if port.sid in (None, msg.get("sid")):
                port.sid = port.start = port.auth = port.el = None
                # The session's final figures, not the last telemetry's (up to
                # telemetry_s older); later telemetry of an ended port carries none.
                port.wh, port.fen = msg.get("wh"), msg.get("fen")
            port.last_end = (msg.get("reason"), msg.get("wh"), msg.get("fen"))

    def _alarm(self, c, msg, topic):
        if "id" not in msg or "code" not in msg:
            self._bad(topic, "alarm without id or code")
            return None
        key = "%s#%s" % (c.root, msg["id"])
        if key in self._by_key:
            return None  # at-least-once delivery: a duplicate
        self._seq += 1
        a = Alarm(c.root, msg, self._seq, self.wall())
        if a.state == "cleared":
            # The alarm's identity is (cabinet, code, port): its raised row(s) end here.
            # (Several when its level changed, e.g. cabinet_overtemp warning -> critical.)
            raised = [old for old in self.alarms
                      if (old.root == a.root and old.code == a.code and old.port == a.port
                          and old.state == "raised" and not old.cleared)]
            for old in raised:
                old.cleared = True
                old.cleared_t = a.t
            if raised:
                row = raised[0]  # the newest: a redelivery finds it through the clear's key
                row.clear_keys.append(key)
                self._by_key[key] = row
                return a  # no row of its own: the record, for the caller (webhook)
        self.alarms.insert(0, a)
        self._by_key[key] = a
        for gone in self.alarms[self.max_alarms:]:
            del self._by_key[gone.key]
            for k in gone.clear_keys:
                self._by_key.pop(k, None)
        del self.alarms[self.max_alarms:]
        return a

    def _add_event(self, root, kind, text, t, key=None, port=None, reason=None):
        self._event_seq += 1
        ev = Event(root, kind, text, t, self._event_seq, self.wall(), key, port, reason)
        self.events.insert(0, ev)
        if key is not None:
            self._event_keys.add(key)
        for gone in self.events[self.max_events:]:
            self._event_keys.discard(gone.key)
        del self.events[self.max_events:]
        return ev

    def link_event(self, text):
        """The monitor's own link to the broker changed (Link's state text). Returns the
        new Event, or None when the state is the one already recorded."""
        if text == self.link_state:
            return None
        self.link_state = text
        return self._add_event(None, "link", "broker " + text, self.wall())

    # ------------------------------------------------------------ actions
    def ack(self, key):
        """Acknowledge one alarm by key. Returns the alarm, or None when unknown."""
        a = self._by_key.get(key)
        if a is not None:
            a.acked = True
        return a

    def ack_all(self):
        """Acknowledge every visible alarm; returns those newly acknowledged."""
        done = [a for a in self.visible_alarms() if not a.acked]
        for a in done:
            a.acked = True
        return done

    def set_view(self, glob):
        self.view_glob = glob or "*"

    # ------------------------------------------------------------ views
    def _visible(self, cabinet_id):
        return fnmatch.fnmatchcase(cabinet_id, self.view_glob)

    def visible_cabinets(self):
        return [self.cabinets[r] for r in sorted(self.cabinets)
                if self._visible(self.cabinets[r].id)]

    def visible_alarms(self):
        return [a for a in self.alarms if self._visible(a.cabinet)]

    def visible_events(self):
        """The event feed under the view filter; the monitor's own events are always shown."""
        return [e for e in self.events if e.cabinet is None or self._visible(e.cabinet)]

    def active_alarms(self, root):
        """Raised alarms of a cabinet not yet cleared."""
        return [a for a in self.alarms
                if a.root == root and a.state == "raised" and not a.cleared]

    def unacked_critical(self):
        """Critical alarms awaiting a staff acknowledgement, each once: its raised row,
        cleared since or not. A cleared record alone (its raise unknown here) is no new
        alarm to acknowledge."""
        return [a for a in self.visible_alarms()
                if a.critical and not a.acked and a.state == "raised"]
