# Non-blocking DNS A lookups over UDP (RFC 1035), for the MQTT link's broker name.
#
# socket.getaddrinfo() on the ESP32 blocks until the resolver answers or gives up
# (seconds); the protection path must not wait on that. Resolver.lookup() sends one
# query and returns None until the answer is there; it never waits.

import errno
import socket

try:
    import random

    def _rand(n):  # pyright: ignore[reportRedeclaration] (a fallback follows)
        return random.getrandbits(30) % n if n > 0 else 0
except ImportError:  # pragma: no cover
    def _rand(n):
        return 0

_DNS_PORT = 53
_MIN_TTL_S = 30
_MAX_TTL_S = 3600
_TYPE_A = 1


def _is_ipv4(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


def udp_socket(sock_mod, server, port):
    s = sock_mod.socket(sock_mod.AF_INET, sock_mod.SOCK_DGRAM)
    s.setblocking(False)
    return s, sock_mod.getaddrinfo(server, port)[0][-1]


def recv_nowait(s, n):
    try:
        return s.recv(n)
    except OSError as e:  # CPython raises BlockingIOError, a subclass
        if e.args[0] == errno.EAGAIN:  # EWOULDBLOCK is the same on Linux and lwIP
            return None
        raise


def _skip_name(b, i):
    while True:
        n = b[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:  # compression pointer
            return i + 2
        i += n + 1


class Resolver:
    """Non-blocking DNS A lookups: lookup(host) -> "a.b.c.d", or None while pending.

    `server` is a callable giving the DNS server address (e.g. link.dns), or a string.
    Answers are cached for their TTL (clamped to 30 s .. 1 h). A query is re-sent every
    retry_ms; after `tries` sends lookup() raises OSError(ETIMEDOUT), a name error
    raises OSError(ENOENT). Pass resolver.lookup to Uplink as its resolver."""

    def __init__(self, server, clock, retry_ms=1000, tries=3, sock_mod=socket, rand=_rand,
                 port=_DNS_PORT):
        self.server = server if callable(server) else (lambda: server)
        self.clock = clock
        self.retry_ms = retry_ms
        self.tries = tries
        self.sock_mod = sock_mod
        self.rand = rand
        self.port = port
        self.cache = {}  # host -> (ip, expiry ticks_ms)
        self.pending = None  # [host, qid, sent_ms, sends, sock, addr]

    def lookup(self, host):
        if _is_ipv4(host):
            return host
        clock = self.clock
        now = clock.ticks_ms()
        hit = self.cache.get(host)
        if hit is not None:
            # An expiry is never more than _MAX_TTL_S ahead: one further off is an entry
            # left unused past the ticks' half period (6.2 days), long expired.
            left_ms = clock.ticks_diff(hit[1], now)
            if 0 < left_ms <= _MAX_TTL_S * 1000:
                return hit[0]
            del self.cache[host]
        p = self.pending
        if p is None or p[0] != host:
            self._close()
            server = self.server()
            if server is None:
                return None  # no link yet
            sock, addr = udp_socket(self.sock_mod, server, self.port)
            p = self.pending = [host, self.rand(65536), now, 0, sock, addr]
            self._send()
        data = recv_nowait(p[4], 512)
        if data is not None:
            ip, ttl = self._parse(data, p[1])
            if ip is not None:
                self._close()
                ttl = min(max(ttl, _MIN_TTL_S), _MAX_TTL_S)
                self.cache[host] = (ip, clock.ticks_add(now, ttl * 1000))
                return ip
        if clock.ticks_diff(now, p[2]) >= self.retry_ms:
            if p[3] >= self.tries:
                self._close()
                raise OSError(errno.ETIMEDOUT)
            self._send()
        return None

    def _send(self):
        p = self.pending
        q = bytearray(12)  # header: id, flags RD, one question
        q[0] = p[1] >> 8
        q[1] = p[1] & 0xFF
        q[2] = 0x01
        q[5] = 1
        for label in p[0].split("."):
            q.append(len(label))
            q.extend(label.encode())
        q.extend(b"\x00\x00\x01\x00\x01")  # root, type A, class IN
        p[4].sendto(q, p[5])
        p[2] = self.clock.ticks_ms()
        p[3] += 1

    def _parse(self, b, qid):
        """(ip, ttl_s) from a reply to query qid; (None, 0) for anything else."""
        try:
            if (b[0] << 8 | b[1]) != qid or not b[2] & 0x80:
                return None, 0
            if b[3] & 0x0F:
                self._close()
                raise OSError(errno.ENOENT)  # NXDOMAIN or server failure
            i = _skip_name(b, 12) + 4
            for _ in range(b[6] << 8 | b[7]):
                i = _skip_name(b, i)
                rtype = b[i] << 8 | b[i + 1]
                ttl = b[i + 4] << 24 | b[i + 5] << 16 | b[i + 6] << 8 | b[i + 7]
                rdlen = b[i + 8] << 8 | b[i + 9]
                i += 10
                if rtype == _TYPE_A and rdlen == 4:
                    return "%d.%d.%d.%d" % (b[i], b[i + 1], b[i + 2], b[i + 3]), ttl
                i += rdlen
        except IndexError:
            pass  # truncated or malformed
        return None, 0

    def _close(self):
        if self.pending is not None:
            self.pending[4].close()
            self.pending = None
