# umqtt.simple's MQTTClient, adapted by subclassing (works with umqtt.simple 1.3.4 .. 1.7).
#
# - connect_via(sock, addr): umqtt's own connect() over a socket made by the caller. The
#   versions differ in connect() but all call `socket.socket()`, `socket.getaddrinfo()` and
#   `sock.connect(addr)` on umqtt's module-global `socket`; it is swapped for a stand-in
#   for the duration of the call. TLS belongs to the socket: umqtt's own ssl stays off.
# - publish(): packet ids wrap before 65535 (umqtt would send id 0 forever, then hang).
# - wait_msg(): peeks at the fixed header; a PUBLISH whose payload exceeds
#   link.max_msg_bytes (or topic exceeds _MAX_TOPIC) is skipped in small chunks through a
#   preallocated buffer, PUBACKed, and reported by link.too_large(); nothing is allocated
#   for it. Anything else is handed back to umqtt's wait_msg unchanged.
#
# The link object provides max_msg_bytes, ping_ms (cleared on PINGRESP) and too_large().

import errno
import socket

from umqtt import simple

PUBLISH = 0x30
_PINGRESP = 0xD0
_MAX_TOPIC = 255  # longer inbound topics are skipped like oversized payloads
_SKIP_CHUNK = 64
_PID_MAX = 65535
_EBADPACKET = errno.EIO  # a malformed packet (MicroPython's errno has no EPROTO)


class _SocketModule:
    """Stands in for umqtt.simple's `socket` global during connect()."""

    def __init__(self, sock, addr):
        self.sock = sock
        self.addr = addr

    def socket(self, *args):
        return self.sock

    def getaddrinfo(self, *args):
        return [(socket.AF_INET, socket.SOCK_STREAM, 0, "", self.addr)]


class Client(simple.MQTTClient):
    """umqtt.simple with packet ids that wrap, and oversized PUBLISH skipped unread."""

    def __init__(self, link, *args):
        super().__init__(*args)
        self.link = link
        self.skipbuf = bytearray(_SKIP_CHUNK)

    def connect_via(self, sock, addr):
        # `socket` is umqtt.simple's imported module; its stub does not list imports.
        saved = simple.socket  # pyright: ignore[reportAttributeAccessIssue]
        simple.socket = _SocketModule(sock, addr)  # pyright: ignore[reportAttributeAccessIssue]
        try:
            return self.connect()
        finally:
            simple.socket = saved  # pyright: ignore[reportAttributeAccessIssue]

    def publish(self, topic, msg, retain=False, qos=0):
        if self.pid >= _PID_MAX:
            self.pid = 0  # stop-and-wait: no id is in flight, 0 is never sent
        return super().publish(topic, msg, retain, qos)

    def read_len(self, hdr=None):
        """MQTT remaining length (1-4 bytes); its bytes appended to hdr when given."""
        sz = 0
        for shift in (0, 7, 14, 21):
            c = self.sock.read(1)[0]
            if hdr is not None:
                hdr.append(c)
            sz |= (c & 0x7F) << shift
            if not c & 0x80:
                return sz
        raise OSError(_EBADPACKET)

    def wait_msg(self):
        # Peek at the fixed header, then hand the bytes back to umqtt's own wait_msg,
        # unless the PUBLISH is too large to allocate.
        sock = self.sock
        b = sock.read(1)
        sock.setblocking(True)
        if b is None:
            return None
        if not b:
            raise OSError(-1)
        op = b[0]
        if op == _PINGRESP:
            self.link.ping_ms = None
        if op & 0xF0 != PUBLISH:
            sock.back = b
            return super().wait_msg()
        hdr = bytearray(b)
        sz = self.read_len(hdr)
        tl = sock.read(2)
        qos = (op >> 1) & 3
        topic_len = tl[0] << 8 | tl[1]
        payload = sz - 2 - topic_len - (2 if qos else 0)
        if payload < 0:
            raise OSError(_EBADPACKET)
        if payload > self.link.max_msg_bytes or topic_len > _MAX_TOPIC:
            return self._discard(op, qos, topic_len, payload)
        sock.back = bytes(hdr) + tl
        return super().wait_msg()

    def _discard(self, op, qos, topic_len, payload):
        sock = self.sock
        sock.skip(topic_len, self.skipbuf)
        if qos == 1:
            pid = sock.read(2)
        elif qos:
            raise OSError(_EBADPACKET)  # we subscribe with QoS 1: never QoS 2
        sock.skip(payload, self.skipbuf)
        if qos == 1:
            sock.write(b"\x40\x02" + pid)  # PUBACK, so the broker does not resend it
        self.link.too_large()
        return op
