# WiFi / PPP bring-up with backoff, non-blocking DNS and SNTP: on the fake `network`
# module (tools/sim/network.py) and fake UDP sockets, on virtual time.
import errno

import network
from vclock import CLOCK

from firmware.link import netif
from firmware.link.dns import Resolver

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

STEP_MS = 20


def _fresh():
    network.reset()
    CLOCK.us = 0
    network.WORLD.aps = {"cabinet-ap": {"key": "s3cret", "rssi": -67}}


def _run(link, ms, until=None):
    """step() every STEP_MS of virtual time; stop early when until() holds."""
    for _ in range(ms // STEP_MS):
        link.step()
        if until is not None and until():
            return True
        CLOCK.advance_ms(STEP_MS)
    return False


def test_wifi_comes_up_and_reports_rssi():
    _fresh()
    w = netif.Wifi(network, "cabinet-ap", "s3cret", CLOCK)
    assert not w.isconnected() and w.rssi() is None
    assert _run(w, 5000, w.isconnected)
    assert 1500 <= CLOCK.ticks_diff(CLOCK.ticks_ms(), CLOCK.t0_ms) <= 1600  # connect_ms
    assert w.status() == {"link": "wifi", "up": True, "rssi": -67}
    assert w.dns() == "192.168.4.1"
    nic = network.WLAN(network.STA_IF)
    assert nic.connects == 1 and nic.config("reconnects") == 0  # our backoff, not the driver's


def test_wrong_password_backs_off_exponentially_within_bounds():
    _fresh()
    w = netif.Wifi(network, "cabinet-ap", "wrong", CLOCK, backoff_min_ms=2000,
                   backoff_max_ms=16000)
    _run(w, 120000)
    nic = network.WLAN(network.STA_IF)
    assert not w.isconnected() and w.last_error == "status 202"
    # attempts at ~0, then waits in [1,2], [2,4], [4,8], [8,16], [8,16]... (+1.5 s each)
    # over 120 s: at least 120/(16+1.5) and at most 5 + 120/(8+1.5) attempts.
    assert 7 <= nic.connects <= 18, nic.connects
    assert nic.connects - 1 <= w.backoff.failures <= nic.connects  # one may be under way


def test_no_ap_then_ap_appears():
    _fresh()
    network.WORLD.aps = {}
    w = netif.Wifi(network, "cabinet-ap", "s3cret", CLOCK, backoff_min_ms=1000,
                   backoff_max_ms=4000)
    _run(w, 10000)
    assert not w.isconnected() and w.last_error == "status 201"
    network.WORLD.aps = {"cabinet-ap": {"key": "s3cret", "rssi": -50}}
    assert _run(w, 10000, w.isconnected)
    assert w.rssi() == -50 and w.backoff.failures == 0


def test_lost_link_is_noticed_and_reconnected():
    _fresh()
    w = netif.Wifi(network, "cabinet-ap", "s3cret", CLOCK, backoff_min_ms=1000)
    assert _run(w, 5000, w.isconnected)
    network.WORLD.drop()
    w.step()
    assert not w.isconnected() and w.last_error == "lost"
    assert _run(w, 10000, w.isconnected)
    assert network.WLAN(network.STA_IF).connects == 2


def test_connect_timeout_when_the_stack_never_finishes():
    _fresh()
    network.WORLD.connect_ms = 10 ** 9  # association never completes
    w = netif.Wifi(network, "cabinet-ap", "s3cret", CLOCK, connect_timeout_ms=5000,
                   backoff_min_ms=1000, backoff_max_ms=1000)
    _run(w, 20000)
    assert w.last_error == "timeout"
    assert 3 <= network.WLAN(network.STA_IF).connects <= 4  # 5 s + 0.5..1 s each


class Modem:
    """A cellular modem on a UART: answers the AT dialling, then carries PPP."""

    def __init__(self, fail_on=None):
        self.rx = b""
        self.lines = []
        self.fail_on = fail_on

    def write(self, b):
        cmd = bytes(b)
        self.lines.append(cmd)
        if self.fail_on and cmd.startswith(self.fail_on):
            self.rx += b"\r\nERROR\r\n"
        elif cmd.startswith(b"ATD"):
            self.rx += b"\r\nCONNECT 150000000\r\n"
        else:
            self.rx += b"\r\nOK\r\n"
        return len(b)

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        out, self.rx = self.rx, b""
        return out or None


def test_ppp_dials_then_negotiates():
    _fresh()
    m = Modem()
    p = netif.Ppp(network, m, CLOCK, apn=b"cmnet", user="card", password="card")
    assert _run(p, 20000, p.isconnected)
    assert m.lines == [b"AT\r", b"ATE0\r", b'AT+CGDCONT=1,"IP","cmnet"\r', b"ATD*99#\r"]
    assert p.nic.auth == (network.PPP.AUTH_PAP, "card", "card")
    assert p.dns() == "10.11.12.13" and p.status()["link"] == "ppp"
    network.WORLD.ppp_ok = False  # carrier lost
    p.step()
    assert not p.isconnected() and p.nic is None


def test_ppp_modem_error_backs_off():
    _fresh()
    m = Modem(fail_on=b"AT+CGDCONT")
    p = netif.Ppp(network, m, CLOCK, backoff_min_ms=5000, backoff_max_ms=5000)
    _run(p, 12000)
    assert not p.isconnected() and p.last_error.startswith("modem")
    assert 3 <= m.lines.count(b"AT\r") <= 5  # t=0, then every 2.5..5 s


def test_make_link_by_config():
    _fresh()
    assert isinstance(netif.make_link(network, {"wifi_ssid": "x"}, CLOCK), netif.Wifi)
    link = netif.make_link(network, {"net": "ppp", "ppp_apn": "cmiot"}, CLOCK, Modem())
    assert isinstance(link, netif.Ppp) and b"cmiot" in link.chat[2][0]
    # the config key is `net` ("link" was read before and ignored the config)
    assert isinstance(netif.make_link(network, {"link": "ppp", "wifi_ssid": "x"}, CLOCK),
                      netif.Wifi)
    try:
        netif.make_link(network, {"net": "ppp"}, CLOCK)  # no modem UART
        raise AssertionError("no error")
    except ValueError as e:
        assert "modem" in str(e)


# --- UDP fakes for DNS and NTP ---
class FakeUdp:
    def __init__(self, mod):
        self.mod = mod
        self.sent = []
        self.inbox = []
        self.closed = False
        mod.socks.append(self)

    def setblocking(self, flag):
        assert not flag

    def sendto(self, data, addr):
        self.sent.append((bytes(data), addr))
        reply = self.mod.responder(bytes(data))
        if reply is not None:
            self.inbox.append(reply)

    def recv(self, n):
        if not self.inbox:
            raise OSError(errno.EAGAIN)
        return self.inbox.pop(0)[:n]

    def close(self):
        self.closed = True


class FakeSockMod:
    AF_INET = 2
    SOCK_DGRAM = 2

    def __init__(self, responder):
        self.responder = responder
        self.socks = []

    def socket(self, af, kind):
        return FakeUdp(self)

    def getaddrinfo(self, host, port):
        return [(2, 2, 0, "", (host, port))]


def _dns_reply(query, answers, rcode=0, qid=None):
    """answers: list of (type, ttl, rdata); names as pointers to the question (0xC00C)."""
    qid = query[:2] if qid is None else qid
    out = bytearray(qid + bytes((0x81, 0x80 | rcode, 0, 1, 0, len(answers), 0, 0, 0, 0)))
    out += query[12:]
    for rtype, ttl, rdata in answers:
        out += bytes((0xC0, 0x0C, 0, rtype, 0, 1, ttl >> 24 & 255, ttl >> 16 & 255,
                      ttl >> 8 & 255, ttl & 255, 0, len(rdata))) + rdata
    return bytes(out)


def test_dns_lookup_is_non_blocking_and_cached():
    _fresh()
    replies = []
    mod = FakeSockMod(lambda q: None)
    r = Resolver("192.168.4.1", CLOCK, sock_mod=mod)
    assert r.lookup("10.0.0.5") == "10.0.0.5"  # a literal needs no query
    assert mod.socks == []
    assert r.lookup("mqtt.example.cn") is None  # query sent, no answer yet
    q, addr = mod.socks[0].sent[0]
    assert addr == ("192.168.4.1", 53)
    assert q[2:12] == b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    assert q[12:] == b"\x04mqtt\x07example\x02cn\x00\x00\x01\x00\x01"
    # A reply to another id is ignored; the right one (CNAME then A) is taken.
    mod.socks[0].inbox.append(_dns_reply(q, [(1, 60, b"\x01\x02\x03\x04")], qid=b"\x00\x00"
                                         if q[:2] != b"\x00\x00" else b"\x00\x01"))
    assert r.lookup("mqtt.example.cn") is None
    mod.socks[0].inbox.append(_dns_reply(q, [(5, 60, b"\x03cdn\xc0\x11"),
                                             (1, 120, b"\x2f\x5c\x01\x02")]))
    assert r.lookup("mqtt.example.cn") == "47.92.1.2"
    assert mod.socks[0].closed
    CLOCK.advance_ms(119000)
    assert r.lookup("mqtt.example.cn") == "47.92.1.2"  # cached for its TTL
    assert len(mod.socks) == 1
    CLOCK.advance_ms(2000)
    assert r.lookup("mqtt.example.cn") is None  # expired: asks again
    assert len(mod.socks) == 2
    del replies


def test_a_dns_answer_left_unused_for_weeks_is_not_taken_as_fresh():
    # ticks_diff wraps every 12.4 days: an expiry stored then looks 1 h ahead again
    _fresh()
    mod = FakeSockMod(lambda q: None)
    r = Resolver("192.168.4.1", CLOCK, sock_mod=mod)
    assert r.lookup("mqtt.example.cn") is None
    q, _ = mod.socks[0].sent[0]
    mod.socks[0].inbox.append(_dns_reply(q, [(1, 3600, b"\x2f\x5c\x01\x02")]))
    assert r.lookup("mqtt.example.cn") == "47.92.1.2"
    CLOCK.advance_ms((1 << 30) - 1800000)  # 12.4 days on: the expiry reads 1.5 h ahead
    assert r.lookup("mqtt.example.cn") is None  # stale: asks again
    assert len(mod.socks) == 2


def test_dns_retries_then_times_out_and_reports_nxdomain():
    _fresh()
    mod = FakeSockMod(lambda q: None)
    r = Resolver("192.168.4.1", CLOCK, retry_ms=1000, tries=3, sock_mod=mod)
    err = None
    for _ in range(100):
        try:
            assert r.lookup("broker.example") is None
        except OSError as e:
            err = e
            break
        CLOCK.advance_ms(100)
    assert err is not None and err.args[0] == errno.ETIMEDOUT
    assert len(mod.socks[0].sent) == 3 and mod.socks[0].closed
    mod2 = FakeSockMod(lambda q: _dns_reply(q, [], rcode=3))
    r2 = Resolver(lambda: "192.168.4.1", CLOCK, sock_mod=mod2)
    try:
        r2.lookup("nope.example")
        raise AssertionError("no error")
    except OSError as e:
        assert e.args[0] == errno.ENOENT
    r3 = Resolver(lambda: None, CLOCK, sock_mod=mod2)  # no link: no DNS server yet
    assert r3.lookup("broker.example") is None


NTP_DELTA = 2208988800


def _ntp_server(unix_s, frac=0x8000, echo=True, mode=4):
    def reply(req):
        out = bytearray(48)
        out[0] = 0x20 | mode
        out[1] = 2  # stratum
        if echo:
            out[24:32] = req[40:48]
        t = unix_s + NTP_DELTA
        out[40:44] = bytes((t >> 24 & 255, t >> 16 & 255, t >> 8 & 255, t & 255))
        out[44] = frac >> 8
        out[45] = frac & 255
        return bytes(out)
    return reply


def test_ntp_sets_time_without_waiting():
    _fresh()
    got = []
    mod = FakeSockMod(_ntp_server(1764201600))
    n = netif.Ntp(lambda h: "203.107.6.88", CLOCK, lambda s, ms: got.append((s, ms)),
                  host="ntp.aliyun.com", sock_mod=mod)
    n.step()  # sends
    req = mod.socks[0].sent[0][0]
    assert len(req) == 48 and req[0] == 0x23 and mod.socks[0].sent[0][1][1] == 123
    CLOCK.advance_ms(40)
    n.step()  # answer: 0.5 s fraction + half the 40 ms round trip
    assert got == [(1764201600, 520)] and n.synced
    n.step()
    assert len(mod.socks) == 1  # next sync only after interval_ms


def test_ntp_ignores_spoofed_reply_and_retries_after_timeout():
    _fresh()
    got = []
    mod = FakeSockMod(_ntp_server(1764201600, echo=False))
    n = netif.Ntp(lambda h: "203.107.6.88", CLOCK, lambda s, ms: got.append(s),
                  host="pool.ntp.org", timeout_ms=2000, backoff_min_ms=10000,
                  backoff_max_ms=10000, sock_mod=mod)
    for _ in range(200):  # 20 s
        n.step()
        CLOCK.advance_ms(100)
    assert got == [] and not n.synced
    assert 2 <= len(mod.socks) <= 3  # t=0, then 2 s timeout + 5..10 s backoff
    n2 = netif.Ntp(lambda h: None, CLOCK, got.append, host=None, sock_mod=mod)
    if n2.host is None:  # no ntptime on this VM: no sync at all
        n2.step()
        assert len(mod.socks) <= 3
