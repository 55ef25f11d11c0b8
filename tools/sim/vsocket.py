# The virtual board's lwIP `socket` module: DNS and NTP on virtual time, TCP to loopback.
#
# Rigs that run main.py on the unix port put it in place of the real module before the
# firmware is imported:  sys.modules["socket"] = vsocket  (tools/sim/rig.py does it).
# It is hostile where the ESP32 is:
# - getaddrinfo() of a name blocks, as lwIP's does: it costs the virtual clock
#   WORLD.dns_rtt_ms when the resolver answers and 7-14 s (lwIP's DNS retries,
#   FIELD_FACTS 7) when it does not, then raises OSError(-202) like the esp32 port. A
#   control loop that calls it shows a long tick on the virtual clock.
# - UDP sockets are virtual: a query to port 53 of any address is answered by the
#   virtual DNS server from WORLD.names (NXDOMAIN for other names) after dns_rtt_ms, unless
#   DNS is stalled (scenario `dns.stall_s`); a request to port 123 is answered by the
#   virtual NTP server with the world's true time (vclock.CLOCK.world_time()).
# - TCP sockets are the host's real ones (a real mosquitto on 127.0.0.1); any other
#   address is unreachable (this machine has no network but loopback).
# IP literals resolve at once, as on lwIP. WORLD.stalls is a list of [t0_us, t1_us)
# windows of virtual time in which no DNS query is answered.

import errno
import random
import socket as _real

from vclock import CLOCK

AF_INET = _real.AF_INET
SOCK_STREAM = _real.SOCK_STREAM
SOCK_DGRAM = _real.SOCK_DGRAM
for _name in ("SOL_SOCKET", "SO_REUSEADDR", "IPPROTO_TCP", "TCP_NODELAY"):
    if hasattr(_real, _name):
        globals()[_name] = getattr(_real, _name)
LWIP_DNS_FAIL_MS = (7000, 14000)  # lwIP: DNS retries before getaddrinfo gives up
EAI_FAIL = -202  # what the esp32 port raises when getaddrinfo fails
NTP_DELTA = 2208988800  # 1900 -> 1970


class _World:
    def __init__(self):
        self.names = {}  # host name -> IPv4 literal (the virtual DNS zone)
        self.stalls = []  # [[t0_us, t1_us]]: no DNS answer in these windows
        self.dns_rtt_ms = 30  # an answered DNS or NTP exchange takes this long
        self.ntp_ok = True
        self.queries = 0  # DNS queries seen (blocking and UDP)
        self.unanswered = 0
        self.blocked_ms = 0  # virtual time spent inside getaddrinfo()
        self.rand = random.getrandbits

    def dns_up(self, us=None):
        us = CLOCK.us if us is None else us
        for t0, t1 in self.stalls:
            if t0 <= us < t1:
                return False
        return True

    def stall(self, t0_us, t1_us):
        self.stalls.append([t0_us, t1_us])


WORLD = _World()


def reset():
    WORLD.__init__()


def _is_ipv4(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _literal(host, port):
    if host.startswith("127."):
        return _real.getaddrinfo(host, port)  # the host's own form (bytes on the unix port)
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    if _is_ipv4(host):
        return _literal(host, port)
    WORLD.queries += 1
    if not WORLD.dns_up():
        WORLD.unanswered += 1
        span = LWIP_DNS_FAIL_MS[1] - LWIP_DNS_FAIL_MS[0]
        ms = LWIP_DNS_FAIL_MS[0] + WORLD.rand(16) % (span + 1)
        CLOCK.advance_ms(ms)
        WORLD.blocked_ms += ms
        raise OSError(EAI_FAIL)
    CLOCK.advance_ms(WORLD.dns_rtt_ms)
    WORLD.blocked_ms += WORLD.dns_rtt_ms
    ip = WORLD.names.get(host)
    if ip is None:
        raise OSError(EAI_FAIL)
    return _literal(ip, port)


def socket(af=AF_INET, kind=SOCK_STREAM, proto=0):
    if kind == SOCK_DGRAM:
        return _Udp()
    return _real.socket(af, kind)


class _Udp:
    """A non-blocking UDP socket whose peers are the virtual DNS and NTP servers."""

    def __init__(self):
        self.inbox = []  # [ready_us, bytes]
        self.closed = False
        self.sent = 0

    def setblocking(self, flag):
        if flag:
            raise OSError(errno.EINVAL)  # the firmware never waits on UDP

    def settimeout(self, t):
        self.setblocking(t != 0)

    def sendto(self, data, addr):
        if self.closed:
            raise OSError(errno.EBADF)
        data = bytes(data)
        self.sent += 1
        port = addr[1]
        reply = None
        if port == 53:
            WORLD.queries += 1
            if WORLD.dns_up():
                reply = _dns_answer(data)
            else:
                WORLD.unanswered += 1
        elif port == 123 and WORLD.ntp_ok:
            reply = _ntp_answer(data)
        if reply is not None:
            self.inbox.append([CLOCK.us + WORLD.dns_rtt_ms * 1000, reply])
        return len(data)

    def recv(self, n):
        if self.inbox and self.inbox[0][0] <= CLOCK.us:
            return self.inbox.pop(0)[1][:n]
        raise OSError(errno.EAGAIN)

    def recvfrom(self, n):
        return self.recv(n), None

    def close(self):
        self.closed = True


def _qname(q):
    labels = []
    i = 12
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += q[i] + 1
    return ".".join(labels), i + 5


def _dns_answer(q):
    name, end = _qname(q)
    ip = WORLD.names.get(name)
    head = bytearray(q[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00")
    if ip is None:
        head[3] = 0x83  # NXDOMAIN
        return bytes(head) + q[12:end]
    head[7] = 1
    rr = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04" + bytes(
        int(x) for x in ip.split("."))  # TTL 300 s
    return bytes(head) + q[12:end] + rr


def _ntp_answer(req):
    if len(req) != 48 or req[0] & 7 != 3:
        return None
    out = bytearray(48)
    out[0] = 0x24  # LI 0, version 4, mode 4 (server)
    out[1] = 2  # stratum
    out[24:32] = req[40:48]  # originate = the client's transmit timestamp
    us = CLOCK.us + WORLD.dns_rtt_ms * 500  # stamped half way
    secs = CLOCK.world0 + us // 1000000 + NTP_DELTA
    frac = (us % 1000000) * 65536 // 1000000
    out[40:44] = bytes((secs >> 24 & 255, secs >> 16 & 255, secs >> 8 & 255, secs & 255))
    out[44] = frac >> 8
    out[45] = frac & 255
    return bytes(out)
