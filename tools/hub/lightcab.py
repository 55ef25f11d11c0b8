"""Light protocol-level cabinets for the load test: one asyncio MQTT 3.1.1 connection
each (a minimal client: CONNECT, SUBSCRIBE, PUBLISH QoS 0/1, PUBACK, PINGREQ), speaking
the real contract - a retained birth status and the will, a telemetry snapshot, session
records and alarms with stable ids kept until the broker's PUBACK and sent again after
a reconnect (at-least-once, like firmware/store/outbox.py), and signed commands checked with
the cabinet's key (PyJWT): `start` answered with a reply and a session_start carrying
the order, `stop` with a session_end. The firmware simulator stays the truth for one
cabinet; these are for counting at scale.
"""

import asyncio
import json
import struct
import time

import jwt

KEEPALIVE_S = 60
ACK_WAIT_S = 10  # a PUBACK not back by then: the record is sent again (dup)


def _varint(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(kind, body):
    return bytes([kind]) + _varint(len(body)) + body


class LightCabinet:
    def __init__(self, cid, key, host, port, prefix="ebike", ports=10, t0=None):
        self.id, self.key, self.host, self.port = cid, key, host, port
        self.root = "%s/%s" % (prefix, cid)
        self.nports = ports
        self.t0 = t0 or int(time.time())
        self.pid = 0
        self.pending = {}  # pid -> (topic, payload) of QoS 1 messages without PUBACK
        self.acked = {}  # record id -> payload (the broker has it)
        self.sessions = {}  # port -> session_start record
        self.seq = 0
        self.boot = 1
        self.replies = 0
        self.commands = []  # (op, claims) accepted
        self.bad_commands = 0
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.connected = asyncio.Event()

    # ------------------------------------------------------------ link
    async def connect(self):
        r, w = await asyncio.open_connection(self.host, self.port)
        will = json.dumps({"online": False}).encode()
        flags = 0x02 | 0x04 | (1 << 3) | 0x20  # clean, will, will QoS 1, will retain
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", KEEPALIVE_S) + \
            _str(self.id) + _str(self.root + "/status") + _str(will)
        w.write(packet(0x10, body))
        await w.drain()
        hdr = await r.readexactly(4)
        if hdr[0] != 0x20 or hdr[3] != 0:
            raise ConnectionError("%s: CONNACK %r" % (self.id, hdr))
        self.reader, self.writer = r, w
        w.write(packet(0x82, struct.pack("!H", self._next_pid()) + _str(self.root + "/cmd")
                       + b"\x01"))
        self.connected.set()
        self.publish("status", {"online": True, "fw": "lightcab 1", "ports": self.nports,
                                "rssi": None, "boot": self.boot, "cabinet": self.id,
                                "cards": 0}, qos=1, retain=True)
        self.publish("telemetry", {"t": self.now(), "full": True, "ports": [
            {"p": p, "s": "idle", "w": 0} for p in range(self.nports)]}, qos=0)
        for topic, payload in list(self.pending.values()):  # unacknowledged: again
            self._send(topic, payload, 1, dup=True)

    def now(self):
        return int(time.time())

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _w(self):
        assert self.writer is not None, "not connected"
        return self.writer

    def _send(self, topic, payload, qos, retain=False, dup=False):
        body = _str(topic)
        pid = None
        if qos:
            pid = self._next_pid()
            body += struct.pack("!H", pid)
            self.pending[pid] = (topic, payload)
        self._w().write(packet(0x30 | (qos << 1) | (8 if dup else 0) | (1 if retain else 0),
                                 body + payload))
        return pid

    def publish(self, kind, obj, qos=1, retain=False):
        return self._send(self.root + "/" + kind, json.dumps(obj, separators=(",", ":"))
                          .encode(), qos, retain)

    async def run(self, stop):
        """Read packets until `stop` is set; answer commands."""
        last_tx = time.monotonic()
        r, w = self.reader, self._w()
        assert r is not None
        while not stop.is_set():
            try:
                first = await asyncio.wait_for(r.readexactly(1), 5)
            except asyncio.TimeoutError:
                if time.monotonic() - last_tx > KEEPALIVE_S / 2:
                    w.write(b"\xc0\x00")
                    last_tx = time.monotonic()
                continue
            n, mult = 0, 1
            while True:
                b = (await r.readexactly(1))[0]
                n += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            body = await r.readexactly(n) if n else b""
            kind = first[0] & 0xF0
            if kind == 0x40:  # PUBACK
                pid = struct.unpack("!H", body[:2])[0]
                done = self.pending.pop(pid, None)
                if done and done[0].endswith(("/event", "/alarm")):
                    rec = json.loads(done[1])
                    self.acked[rec["id"]] = rec
            elif kind == 0x30:
                qos = (first[0] >> 1) & 3
                tl = struct.unpack("!H", body[:2])[0]
                off = 2 + tl
                if qos:
                    pid = body[off:off + 2]
                    off += 2
                    w.write(b"\x40\x02" + pid)
                self._command(body[off:])
            await w.drain()

    # ------------------------------------------------------------ contract
    def _command(self, token):
        try:
            c = jwt.decode(token, self.key, algorithms=["HS256"],
                           options={"verify_exp": True, "require": ["exp", "jti"]})
        except jwt.PyJWTError:
            self.bad_commands += 1
            self.publish("reply", {"jti": None, "ok": False, "error": "bad_signature"})
            return
        op = c.get("op")
        self.commands.append((op, c))
        err = None
        if op == "start":
            p = c.get("port")
            if p in self.sessions:
                err = "port_busy"
            else:
                self.publish("reply", {"jti": c["jti"], "ok": True})
                self.session_start(p, "remote", c.get("limit"), c.get("order"))
                return
        elif op == "stop":
            if c.get("port") not in self.sessions:
                err = "bad_args"
            else:
                self.publish("reply", {"jti": c["jti"], "ok": True})
                self.session_end(c["port"], "remote_stop")
                return
        self.publish("reply", {"jti": c["jti"], "ok": err is None, **(
            {"error": err} if err else {})})

    def _id(self):
        self.seq += 1
        return "%s-%d-%d" % (self.id, self.boot, self.seq)

    def session_start(self, port, auth="remote", limit=None, order=None):
        sid = self._id()
        rec = {"ev": "session_start", "id": sid + ":s", "sid": sid, "port": port,
               "start": self.now(), "auth": auth, "limit": limit or {"full": True},
               "order": order}
        self.sessions[port] = rec
        self.publish("event", rec)
        return rec

    def session_end(self, port, reason="full", wh=123.4, fen=16):
        s = self.sessions.pop(port)
        rec = {"ev": "session_end", "id": s["sid"] + ":e", "sid": s["sid"], "port": port,
               "start": s["start"], "end": self.now(), "charge_s": 60, "wh": wh, "fen": fen,
               "reason": reason, "peak_w": 180, "auth": s["auth"], "order": s["order"],
               "limit": s["limit"]}
        self.publish("event", rec)
        return rec

    def alarm(self, code="port_overtemp", port=0):
        aid = self._id()
        rec = {"id": aid, "code": code, "port": port, "level": "warning", "state": "raised",
               "value": 71.5, "t": self.now()}
        self.publish("alarm", rec)
        return rec

    def resend(self, rec_id):
        """Publish an acknowledged record again (a power cut between PUBACK and the
        outbox write does this on a real cabinet)."""
        rec = self.acked[rec_id]
        self.publish("alarm" if "code" in rec else "event", rec)

    async def close(self):
        if self.writer is not None:
            self.writer.write(b"\xe0\x00")  # DISCONNECT (the will is not sent)
            try:
                await self.writer.drain()
            except ConnectionError:
                pass
            self.writer.close()
