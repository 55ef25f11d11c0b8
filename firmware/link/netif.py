# Network interface bring-up (WiFi station or PPP over a modem UART), DNS and NTP, all
# driven by step() calls from the control loop: nothing here waits.
#
# On the ESP32 `WLAN.connect()` and `PPP.connect()` return at once and the stack connects
# in the background; we poll isconnected() and give up after a timeout, then retry with
# exponential backoff and jitter. The modem's AT dialling reads the UART only when bytes
# are there. DNS (socket.getaddrinfo blocks for seconds on a dead resolver) and NTP
# (ntptime.time() blocks up to 1 s) are single non-blocking UDP exchanges instead (dns.py
# and Ntp below).
#
# The `network` module is passed in: the real one on the device, tools/sim/network.py in
# tests. The clock is the injected one (ticks_ms, ticks_diff, ticks_add).

import socket

from firmware.core.ticks import fresh
from firmware.link.dns import _rand, recv_nowait, udp_socket

TYPE_CHECKING = False  # pyright reads the block below; the device never runs it
if TYPE_CHECKING:
    from typing import Any  # noqa: F401 (used in a type comment)

DOWN = "down"
CONNECTING = "connecting"
UP = "up"
_NTP_DELTA = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_NTP_PORT = 123
_CHAT_BUF = 128  # modem reply bytes kept while waiting for the expected answer


class _Backoff:
    """Exponential backoff with jitter: delays in [cap/2, cap], cap doubling to max_ms."""

    def __init__(self, min_ms, max_ms, rand=_rand):
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.rand = rand
        self.failures = 0

    def next_ms(self):
        self.failures += 1
        cap = min(self.min_ms << min(self.failures - 1, 16), self.max_ms)
        return cap // 2 + self.rand(cap // 2 + 1)

    def reset(self):
        self.failures = 0


class _Link:
    """Shared state machine: DOWN -(due)-> CONNECTING -(isconnected)-> UP -(lost)-> DOWN."""

    kind = "none"
    nic = None  # type: Any  # the network interface, while the subclass has one

    def __init__(self, clock, connect_timeout_ms, backoff_min_ms, backoff_max_ms, rand):
        self.clock = clock
        self.connect_timeout_ms = connect_timeout_ms
        self.backoff = _Backoff(backoff_min_ms, backoff_max_ms, rand)
        self.state = DOWN
        self.since = self.next_try = clock.ticks_ms()
        self.attempts = 0
        self.last_error = None

    def isconnected(self):
        return self.state == UP

    def step(self):
        clock = self.clock
        now = clock.ticks_ms()
        if self.state == UP:
            if not self._up():
                self.last_error = "lost"
                self._fail(now)
        elif self.state == CONNECTING:
            err = self._progress()
            if err is None and self._up():
                self.state = UP
                self.since = now
                self.backoff.reset()
            elif err is not None or clock.ticks_diff(now, self.since) > self.connect_timeout_ms:
                self.last_error = err or "timeout"
                self._fail(now)
        elif clock.ticks_diff(now, self.next_try) >= 0:
            self.attempts += 1
            self.state = CONNECTING
            self.since = now
            self._start()

    def _fail(self, now):
        self._stop()
        self.state = DOWN
        self.next_try = self.clock.ticks_add(now, self.backoff.next_ms())

    def status(self):
        """For the status message: {"link": kind, "up": bool, "rssi": dBm or None}."""
        return {"link": self.kind, "up": self.state == UP, "rssi": self.rssi()}

    def rssi(self):
        return None

    def dns(self):
        """The DNS server the link was given (DHCP / IPCP), or None while down."""
        if self.state != UP:
            return None
        try:
            return self.nic.ifconfig()[3]
        except (OSError, AttributeError, IndexError):
            return None

    # subclasses: _start(), _progress() -> None or an error string, _up(), _stop()
    def _start(self):
        raise NotImplementedError

    def _progress(self):
        return None

    def _up(self):
        raise NotImplementedError

    def _stop(self):
        raise NotImplementedError


class Wifi(_Link):
    """WiFi station. Credentials come from the config, never from the code."""

    kind = "wifi"

    def __init__(self, network, ssid, password, clock, connect_timeout_ms=20000,
                 backoff_min_ms=2000, backoff_max_ms=300000, rand=_rand):
        super().__init__(clock, connect_timeout_ms, backoff_min_ms, backoff_max_ms, rand)
        self.network = network
        self.ssid = ssid
        self.password = password
        self.nic = network.WLAN(network.STA_IF)
        self._fail_codes = ()  # status() values that end an attempt early
        for name in ("STAT_WRONG_PASSWORD", "STAT_NO_AP_FOUND", "STAT_CONNECT_FAIL",
                     "STAT_ASSOC_FAIL", "STAT_HANDSHAKE_TIMEOUT", "STAT_BEACON_TIMEOUT"):
            if hasattr(network, name):
                self._fail_codes += (getattr(network, name),)

    def _start(self):
        nic = self.nic
        nic.active(True)
        try:
            nic.config(reconnects=0)  # the driver's own retries would bypass our backoff
        except (OSError, ValueError, TypeError):
            pass  # a port without the option
        nic.connect(self.ssid, self.password)

    def _progress(self):
        st = self.nic.status()
        return "status %s" % st if st in self._fail_codes else None

    def _up(self):
        return self.nic.isconnected()

    def _stop(self):
        try:
            self.nic.disconnect()
        except OSError:
            pass

    def rssi(self):
        if self.state != UP:
            return None
        for get in (lambda: self.nic.status("rssi"), lambda: self.nic.config("rssi")):
            try:
                return get()
            except (OSError, ValueError, TypeError):
                pass
        return None


# Hayes commands that put a cellular modem in PPP data mode: (send, expect, timeout_ms).
DEFAULT_CHAT = ((b"AT\r", b"OK", 2000), (b"ATE0\r", b"OK", 2000),
                (b'AT+CGDCONT=1,"IP","{apn}"\r', b"OK", 5000),
                (b"ATD*99#\r", b"CONNECT", 30000))


class Ppp(_Link):
    """PPP over a modem on a UART: AT dialling (non-blocking), then network.PPP."""

    kind = "ppp"

    def __init__(self, network, uart, clock, apn=b"internet", user=None, password=None,
                 chat=DEFAULT_CHAT, connect_timeout_ms=60000, backoff_min_ms=5000,
                 backoff_max_ms=600000, rand=_rand):
        super().__init__(clock, connect_timeout_ms, backoff_min_ms, backoff_max_ms, rand)
        self.network = network
        self.uart = uart
        self.user = user
        self.password = password
        self.chat = [(c.replace(b"{apn}", apn), e, t) for c, e, t in chat]
        self.nic = None
        self.line = 0  # index in the chat; len(chat) once PPP is negotiating
        self.got = b""  # the modem's latest bytes
        self.line_ms = 0

    def _start(self):
        self.line = 0
        self._send_line()

    def _send_line(self):
        self.got = b""
        self.line_ms = self.clock.ticks_ms()
        self.uart.write(self.chat[self.line][0])

    def _progress(self):
        if self.line >= len(self.chat):
            return None  # PPP negotiating: _up() decides
        if self.uart.any():
            data = self.uart.read()
            if data:
                self.got = (self.got + data)[-_CHAT_BUF:]  # the answer comes last
        cmd, expect, timeout_ms = self.chat[self.line]
        if expect in self.got:
            self.line += 1
            if self.line < len(self.chat):
                self._send_line()
            else:
                self._ppp_up()
            return None
        if b"ERROR" in self.got or b"NO CARRIER" in self.got:
            return "modem %s: %s" % (cmd.strip(), self.got.strip())
        if self.clock.ticks_diff(self.clock.ticks_ms(), self.line_ms) > timeout_ms:
            return "modem %s: no %s" % (cmd.strip(), expect)
        return None

    def _ppp_up(self):
        nic = self.nic = self.network.PPP(self.uart)
        nic.active(True)
        if self.user is None:
            nic.connect()
            return
        try:  # extmod PPP (MicroPython 1.24+)
            nic.connect(security=nic.SEC_PAP, user=self.user, key=self.password)
        except (TypeError, AttributeError):  # the older esp32 PPP
            nic.connect(authmode=nic.AUTH_PAP, username=self.user, password=self.password)

    def _up(self):
        return self.nic is not None and self.nic.isconnected()

    def _stop(self):
        if self.nic is not None:
            try:
                self.nic.active(False)
            except OSError:
                pass
            self.nic = None
        self.line = 0


class Ntp:
    """Non-blocking SNTP (RFC 4330): step() every tick; on an answer calls
    set_time(unix_s, ms) and sets `synced`. Re-syncs every interval_ms, retries a failed
    exchange with backoff. host None: ntptime.host when ntptime exists, else no sync."""

    def __init__(self, resolver, clock, set_time, host=None, interval_ms=6 * 3600000,
                 timeout_ms=2000, backoff_min_ms=15000, backoff_max_ms=900000,
                 sock_mod=socket, rand=_rand):
        if host is None:
            try:
                import ntptime
                host = ntptime.host
            except (ImportError, AttributeError):
                host = None
        self.host = host
        self.resolver = resolver
        self.clock = clock
        self.set_time = set_time
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms
        self.backoff = _Backoff(backoff_min_ms, backoff_max_ms, rand)
        self.sock_mod = sock_mod
        self.rand = rand
        self.synced = False
        self.next_ms = clock.ticks_ms()
        self.sock = None
        self.sent_ms = 0
        self.token = b""  # our transmit timestamp; the reply must echo it

    def step(self, link_up=True):
        clock = self.clock
        now = clock.ticks_ms()
        self.next_ms = fresh(clock, now, self.next_ms)  # ages saturate (firmware/core/ticks.py)
        self.sent_ms = fresh(clock, now, self.sent_ms)
        if self.host is None or not link_up:
            return
        if self.sock is None:
            if clock.ticks_diff(now, self.next_ms) < 0:
                return
            try:
                ip = self.resolver(self.host)
            except OSError:
                return self._retry(now)
            if ip is None:
                return
            self.sock, addr = udp_socket(self.sock_mod, ip, _NTP_PORT)
            self.token = bytes(self.rand(256) for _ in range(8))
            req = bytearray(48)
            req[0] = 0x23  # LI 0, version 4, mode 3 (client)
            req[40:48] = self.token
            self.sock.sendto(req, addr)
            self.sent_ms = now
            return
        data = recv_nowait(self.sock, 48)
        if data is not None and len(data) == 48 and data[0] & 7 == 4 and data[1] \
                and data[24:32] == self.token:
            secs = (data[40] << 24 | data[41] << 16 | data[42] << 8 | data[43]) - _NTP_DELTA
            frac = data[44] << 8 | data[45]
            ms = (frac * 1000 >> 16) + clock.ticks_diff(now, self.sent_ms) // 2  # half the RTT
            self._close()
            self.set_time(secs + ms // 1000, ms % 1000)
            self.synced = True
            self.backoff.reset()
            self.next_ms = clock.ticks_add(now, self.interval_ms)
        elif clock.ticks_diff(now, self.sent_ms) > self.timeout_ms:
            self._close()
            self._retry(now)

    def _retry(self, now):
        self.next_ms = self.clock.ticks_add(now, self.backoff.next_ms())

    def _close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def make_link(network, cfg, clock, uart=None):
    """Link from config: cfg["net"] is "wifi" (wifi_ssid, wifi_password) or "ppp"
    (ppp_apn, ppp_user, ppp_password; the modem on `uart`, main.modem_uart)."""
    if cfg.get("net", "wifi") == "ppp":
        if uart is None:
            raise ValueError("net ppp: no modem UART")
        user = cfg.get("ppp_user") or None
        return Ppp(network, uart, clock, cfg.get("ppp_apn", "cmnet").encode(),
                   user, cfg.get("ppp_password"))
    return Wifi(network, cfg["wifi_ssid"], cfg.get("wifi_password"), clock)
