# The MQTT link (PROTOCOL.md) on top of umqtt.simple, without ever blocking the control loop.
#
# umqtt.simple is blocking. It is given a socket (slicesock.SliceSock) whose "blocking"
# reads and writes run in short poll slices and call the app's idle() (the control tick:
# meter poll + protection) between them, under a per-operation deadline that raises
# OSError(ETIMEDOUT). TCP connect and the TLS handshake advance the same way. So a broker
# that never answers, stalls mid-packet or half-closes costs the loop slices, never a
# sweep: the link drops and reconnects with exponential backoff and jitter. Dead links are
# found by PINGREQ every keepalive/2 without traffic and a PINGRESP deadline.
#
# Outbox records go out one at a time with QoS 1 and are acked to the outbox only after
# their PUBACK (at-least-once; the records carry stable ids). After a (re)connect with a
# backlog, the first re-send waits a random 0..backlog_delay_max_ms (no thundering herd at
# the server when a whole district comes back). Telemetry is QoS 0 and dropped while down.
#
# The umqtt.simple subclass (mqttclient.Client) takes a fresh object per connection, wraps
# packet ids before 65535 and skips an inbound PUBLISH larger than max_msg_bytes unread.
#
# Replies and card authorisation requests are time-bound: a server or a resident waits for
# them. They go through a small RAM lane, `urgent()`, served in every connected step right
# after the inbound packets, ahead of the outbox and never held by the backlog delay
# (QoS 1, one at a time like the outbox). A reply stays in the lane across a reconnect;
# an auth request (keep=False) is dropped with the link, its answer would come too late.
#
# idle() and on_command() are app code run inside the link: they may queue (outbox,
# telemetry, urgent) but must not call step(). An exception they raise drops the link and
# is re-raised from step(). `tap(topic, payload)`, when set, sees every message published
# (the simulator logs them).

import errno
import socket

from umqtt import simple

from firmware.core.ticks import fresh
from firmware.link.mqttclient import PUBLISH, Client
from firmware.link.slicesock import SliceSock, tls_context

try:
    import random

    def _rand(n):  # pyright: ignore[reportRedeclaration]  (the fallback below or this)
        return random.getrandbits(30) % n if n > 0 else 0
except ImportError:  # pragma: no cover
    def _rand(n):
        return 0

WILL = b'{"online": false}'
KIND_TOPIC = {"session_start": "event", "session_end": "event", "alarm": "alarm",
              "auth": "auth", "reply": "reply"}
DEFAULTS = {
    "host": "127.0.0.1", "port": 0,  # 0: 1883, or 8883 with TLS
    "prefix": "ebike", "cabinet": "sim-001", "client_id": None,  # None: the cabinet id
    "user": None, "password": None,
    "tls": False, "cadata": None, "server_hostname": None,  # CA certs (PEM or DER bytes)
    "psk_identity": None, "psk_key": None,  # TLS-PSK instead of a CA (key: bytes or hex)
    "keepalive_s": 60,
    "backoff_min_ms": 1000, "backoff_max_ms": 120000,
    "stable_ms": 30000,  # a connection that lasted this long resets the backoff
    "backlog_delay_max_ms": 120000,  # random 0..this before re-sending a backlog
    "connect_timeout_ms": 15000,  # DNS + TCP + TLS + CONNACK + SUBACK + birth
    "op_timeout_ms": 10000,  # one packet in, or one QoS 1 publish until its PUBACK
    "ping_timeout_ms": 10000,  # PINGRESP due within this
    "slice_ms": 10,  # longest single socket wait
    "idle_ms": 10,  # idle() runs at least this often while the link works
    "flush_budget_ms": 50,  # outbox time per step
    "max_msg_bytes": 2048,  # larger inbound payloads are skipped (too_large)
    "max_inbound_per_step": 4,
    "lane_max": 8,  # urgent messages (replies, auth requests) held in RAM
}


def _is_ipv4(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


class _AppAbort(Exception):
    """Unwinds umqtt after idle() or on_command() raised; step() re-raises the original."""


# What a broken link or broker raises inside umqtt; anything else is a bug and propagates.
_LINK_ERRORS = (OSError, simple.MQTTException, AssertionError, IndexError, ValueError,
                MemoryError, _AppAbort)


class Uplink:
    """MQTT link. Call step() every control tick; see the module comment."""

    def __init__(self, opts, clock, outbox, on_command, idle, birth=b'{"online": true}',
                 resolver=None, rand=_rand):
        o = dict(DEFAULTS)
        o.update(opts)
        if o["tls"] and not o["cadata"] and not o["psk_key"]:
            raise ValueError("tls needs cadata (the broker's CA certificate) or a psk_key")
        if resolver is None and not _is_ipv4(o["host"]):
            # getaddrinfo() of a name blocks for lwIP's 7-14 s when DNS does not answer
            raise ValueError("host %r is a name: give a resolver (firmware/link/dns.py)"
                             % o["host"])
        self.o = o
        self.clock = clock
        self.outbox = outbox
        self.on_command = on_command
        self.idle = idle
        self.rand = rand
        self.resolver = resolver
        self.slice_ms = o["slice_ms"]
        self.max_msg_bytes = o["max_msg_bytes"]
        self.ping_every_ms = max(1, o["keepalive_s"]) * 500  # half the keepalive
        self.server_hostname = o["server_hostname"] or o["host"]
        self.port = o["port"] or (8883 if o["tls"] else 1883)
        root = "%s/%s/" % (o["prefix"], o["cabinet"])
        self.topic = {k: (root + v).encode() for k, v in KIND_TOPIC.items()}
        for k in ("status", "telemetry", "cmd"):
            self.topic[k] = (root + k).encode()
        self.status = birth  # the retained status; published as the birth on connect
        self.status_dirty = False
        self.telemetry = None
        self.lane = []  # urgent (topic, payload, keep) in order
        self.tap = None  # tap(topic, payload) after every publish
        self.restamp = None  # restamp(payload) -> payload or None (hold): wallclock.py
        self._ctx = None
        self.client = None  # set once connected (CONNACK, SUBACK, birth PUBACK)
        self.sock = None
        now = clock.ticks_ms()
        self.deadline = self.last_idle = self.step_ms = now
        self.rx_ms = self.tx_ms = self.up_ms = now
        self.next_try = now  # first connect at the first step
        self.flush_at = now
        self.ping_ms = None  # when the unanswered PINGREQ went out
        self.failures = 0
        self.resolve_since = None
        self.busy = False
        self.app_error = None
        # figures for the data budget and the dashboard
        self.tx_bytes = self.rx_bytes = 0
        self.connects = self.drops = self.acked = self.telemetry_sent = self.urgent_sent = 0
        self.too_large_count = self.bad_kind = 0
        self.last_error = None

    # --- the app's side ---
    @property
    def connected(self):
        return self.client is not None

    def set_status(self, payload):
        """The retained status (birth) payload; published now if up, else at connect."""
        self.status = payload
        self.status_dirty = self.client is not None

    def send_telemetry(self, payload):
        """Queue one QoS 0 telemetry payload (the latest wins). False when down."""
        if self.client is None:
            return False
        self.telemetry = payload
        return True

    def urgent(self, kind, payload, keep=True):
        """Queue a QoS 1 message (kind: "reply" or "auth") ahead of the outbox, sent in the
        next connected step. keep=False: dropped if the link drops before its PUBACK.
        False (nothing queued) when the link is down or the lane is full."""
        if self.client is None or len(self.lane) >= self.o["lane_max"]:
            return False
        self.lane.append((self.topic[kind], payload, keep))
        return True

    def abort(self):
        """Drop the link now, as a vanished network would: no DISCONNECT (the broker
        publishes the will). Reconnects after the usual backoff."""
        if self.client is not None or self.sock is not None:
            self._drop(OSError(errno.ECONNABORTED))

    def stats(self):
        """Counters for the data budget (MQTT bytes, TCP/TLS overhead not included)."""
        return {"tx_bytes": self.tx_bytes, "rx_bytes": self.rx_bytes,
                "connects": self.connects, "drops": self.drops, "acked": self.acked,
                "telemetry": self.telemetry_sent, "urgent": self.urgent_sent,
                "too_large": self.too_large_count,
                "bad_kind": self.bad_kind, "last_error": self.last_error}

    def step(self):
        """Connect when due, or serve the link: inbound, ping, status, telemetry, outbox."""
        if self.busy:
            return  # called from idle() or on_command(): never re-enter
        self.busy = True
        clock = self.clock
        self.last_idle = self.step_ms = clock.ticks_ms()
        try:
            if self.client is None:
                if clock.ticks_diff(self.step_ms, self.next_try) >= 0:
                    self._connect()
            else:
                self._service()
            if self.sock is not None:
                self.sock.flush()  # QoS 0 publish, PINGREQ, PUBACK: nothing reads after them
        except Exception as e:  # a link or protocol error: drop, back off, retry
            self._drop(e)
            if not isinstance(e, _LINK_ERRORS):
                raise
        finally:
            self.busy = False
        if self.app_error is not None:
            e, self.app_error = self.app_error, None
            raise e

    def close(self):
        """Orderly shutdown: retained offline status, then DISCONNECT (no will)."""
        if self.client is None:
            return
        try:
            self._pub(self.topic["status"], WILL, True, 1)
            self.client.disconnect()
        except _LINK_ERRORS:
            pass
        self._close_sock()
        self.client = None

    # --- called from inside the link ---
    def idle_due(self):
        now = self.clock.ticks_ms()
        if self.clock.ticks_diff(now, self.last_idle) >= self.o["idle_ms"]:
            self.last_idle = now
            try:
                self.idle()
            except Exception as e:
                self.app_error = e
                raise _AppAbort()

    def got(self, n):
        self.rx_bytes += n
        self.rx_ms = self.clock.ticks_ms()

    def sent(self, n):
        self.tx_bytes += n
        self.tx_ms = self.clock.ticks_ms()

    def too_large(self):
        self.too_large_count += 1
        self._command(None, True)

    def _on_msg(self, topic, msg, retained=False):
        self._command(msg, False)

    def _command(self, payload, too_large):
        try:
            self.on_command(payload, too_large)
        except Exception as e:
            self.app_error = e
            raise _AppAbort()

    def ssl_ctx(self):
        if self.o["tls"] and self._ctx is None:
            self._ctx = tls_context(self.o["cadata"], self.o["psk_identity"], self.o["psk_key"])
        return self._ctx

    # --- connection ---
    def _arm(self, ms):
        self.deadline = self.clock.ticks_add(self.clock.ticks_ms(), ms)

    def _connect(self):
        o = self.o
        clock = self.clock
        now = clock.ticks_ms()
        host = o["host"]
        if self.resolver is not None:  # non-blocking: None while the answer is pending
            if self.resolve_since is None:
                self.resolve_since = now
            host = self.resolver(host)
            if host is None:
                if clock.ticks_diff(now, self.resolve_since) > o["connect_timeout_ms"]:
                    raise OSError(errno.ETIMEDOUT)
                return
        self.resolve_since = None
        addr = socket.getaddrinfo(host, self.port)[0][-1]  # an IP literal: no lookup
        self._arm(o["connect_timeout_ms"])
        self.sock = sock = SliceSock(self, socket.socket())
        user = o["user"]
        c = Client(self, (o["client_id"] or o["cabinet"]).encode(), o["host"], self.port,
                   user and user.encode(), user and (o["password"] or "").encode(),
                   o["keepalive_s"])
        c.set_callback(self._on_msg)
        c.set_last_will(self.topic["status"], WILL, True, 1)
        c.connect_via(sock, addr)
        c.subscribe(self.topic["cmd"], 1)
        c.publish(self.topic["status"], self.status, True, 1)  # birth
        if self.tap is not None:
            self.tap(self.topic["status"], self.status)
        self.client = c
        now = clock.ticks_ms()
        self.up_ms = self.rx_ms = self.tx_ms = now
        self.ping_ms = None
        self.status_dirty = False
        self.telemetry = None
        self.connects += 1
        backlog = o["backlog_delay_max_ms"] if self.outbox.peek() is not None else 0
        self.flush_at = clock.ticks_add(now, self.rand(backlog + 1) if backlog else 0)

    def _drop(self, e):
        self.last_error = repr(e)
        clock = self.clock
        now = clock.ticks_ms()
        if self.client is not None:
            self.drops += 1
            if clock.ticks_diff(now, self.up_ms) >= self.o["stable_ms"]:
                self.failures = 0
            self.client = None
        self._close_sock()
        if self.lane:
            self.lane = [m for m in self.lane if m[2]]
        self.resolve_since = None
        self.failures += 1
        cap = self.o["backoff_min_ms"] << min(self.failures - 1, 16)
        cap = min(cap, self.o["backoff_max_ms"])
        self.next_try = clock.ticks_add(now, cap // 2 + self.rand(cap // 2 + 1))  # jitter

    def _close_sock(self):
        if self.sock is not None:
            self.sock.wlen = 0
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    # --- a connected step ---
    def _service(self):
        o = self.o
        clock = self.clock
        c = self.client
        topic = self.topic
        for _ in range(o["max_inbound_per_step"]):
            self._arm(o["op_timeout_ms"])
            op = c.check_msg()
            if op is None:
                break
            if op & 0xF0 != PUBLISH:
                self._skip_rest()
        now = clock.ticks_ms()
        self.flush_at = fresh(clock, now, self.flush_at)  # ages saturate (firmware/core/ticks.py)
        self.up_ms = fresh(clock, now, self.up_ms)
        if self.ping_ms is not None:
            if clock.ticks_diff(now, self.ping_ms) > o["ping_timeout_ms"]:
                raise OSError(errno.ETIMEDOUT)  # dead link: no PINGRESP
        elif (clock.ticks_diff(now, self.rx_ms) >= self.ping_every_ms
              or clock.ticks_diff(now, self.tx_ms) >= self.ping_every_ms):
            self._arm(o["op_timeout_ms"])
            c.ping()
            self.ping_ms = now
        if self.status_dirty:
            self.status_dirty = False
            self._pub(topic["status"], self.status, True, 1)
        if self.telemetry is not None:
            t, self.telemetry = self.telemetry, None
            self._pub(topic["telemetry"], t, False, 0)
            self.telemetry_sent += 1
        lane = self.lane
        while lane:  # urgent: ahead of the outbox, never held by the backlog delay
            t, payload, _ = lane[0]
            self._pub(t, payload, False, 1)  # returns after its PUBACK
            lane.pop(0)
            self.urgent_sent += 1
        if clock.ticks_diff(now, self.flush_at) >= 0:
            self._flush()

    def _pub(self, topic, payload, retain, qos):
        self._arm(self.o["op_timeout_ms"])
        self.client.publish(topic, payload, retain, qos)
        if self.tap is not None:
            self.tap(topic, payload)

    def _skip_rest(self):
        # umqtt returns other packet types unread past the first byte: consume them.
        c = self.client
        c.sock.skip(c.read_len(), c.skipbuf)

    def _flush(self):
        clock = self.clock
        end = clock.ticks_add(self.step_ms, self.o["flush_budget_ms"])
        box = self.outbox
        while True:
            rec = box.peek()
            if rec is None:
                return
            rid, kind, payload = rec
            if self.restamp is not None:
                payload = self.restamp(payload)
                if payload is None:
                    return  # made before the wall clock was known: held until it is
            t = self.topic.get(kind) if kind in KIND_TOPIC else None
            if t is None:
                self.bad_kind += 1  # cannot be routed: drop it rather than block the box
            else:
                self._pub(t, payload, False, 1)  # returns after its PUBACK
                self.acked += 1
            box.ack(rid)
            self.idle_due()
            if clock.ticks_diff(clock.ticks_ms(), end) >= 0:
                return
