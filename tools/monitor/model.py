"""What the monitor knows about cabinets, ports and alarms, built from MQTT messages.

Pure logic (no MQTT client, no UI): `Model.handle(topic, payload)` takes one message.

Topics (PROTOCOL.md): `{prefix}/{cabinet}/status|telemetry|event|alarm`.

- status (retained): birth `{"online": true, "fw": "...", "ports": N, ...}`, last will
  `{"online": false}`; an empty retained payload (status cleared) forgets the cabinet.
- telemetry, the compact format the monitor reads (extra keys are ignored, a missing key
  keeps its last value)::

      {"t": 1764201600,                      # optional, epoch s
       "ports": [{"p": 0,                    # port number on the wire, 0-based
                  "s": "charging",           # state (firmware/codes.py port states)
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
Acknowledgement is local to the model. A scope (prefix glob / cabinet glob) drops
messages from other sites; a view filter (cabinet glob) narrows what is shown.
"""

import fnmatch
import json
import time

KINDS = ("status", "telemetry", "event", "alarm")
CRITICAL = "critical"
MAX_ALARMS = 500
MAX_BAD = 50


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


class Model:
    def __init__(self, prefix_glob="ebike", cabinet_glob="*", max_alarms=MAX_ALARMS,
                 clock=time.monotonic, wall=time.time):
        self.prefix_glob = prefix_glob
        self.cabinet_glob = cabinet_glob
        self.view_glob = "*"
        self.max_alarms = max_alarms
        self.clock = clock
        self.wall = wall
        self.cabinets = {}
        self.alarms = []  # newest first
        self._by_key = {}
        self._seq = 0
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
            self.cabinets.pop(root, None)  # retained status cleared: cabinet retired
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
        c.online = msg["online"]
        if c.online:
            c.fw = msg.get("fw", c.fw)
            n = msg.get("ports")
            if isinstance(n, int) and 0 < n <= 64:
                c.nports = n

    def _telemetry(self, c, msg, topic):
        ports = msg.get("ports")
        if not isinstance(ports, list):
            self._bad(topic, "telemetry without a ports list")
            return
        if c.online is None:
            c.online = True  # telemetry flows, so the cabinet is up even before a status
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
        port = c.port(p)
        if ev == "session_start" or (ev is None and "end" not in msg):
            port.sid, port.start, port.auth = msg.get("sid"), msg.get("start"), msg.get("auth")
            port.wh = port.fen = port.el = None
            port.last_end = None
        elif ev == "session_end" or "reason" in msg:
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
