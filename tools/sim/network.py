# Fake `network` module for the virtual board (MicroPython unix port and CPython).
#
# With tools/sim first on sys.path, `import network` gets this module. It follows the
# ESP32 port's API (WLAN with STA_IF/AP_IF, active, connect, disconnect, isconnected,
# status and status("rssi"), config, ifconfig/ipconfig, scan; PPP on a stream) and runs
# on the virtual clock vclock.CLOCK. Tests set up the radio world through WORLD:
#   WORLD.aps = {"ssid": {"key": "secret", "rssi": -61}}   access points in range
#   WORLD.connect_ms = 1500                                 association + DHCP time
#   WORLD.drop()                                            the AP goes away (link lost)
#   WORLD.ppp_ok, WORLD.ppp_connect_ms                      PPP negotiation outcome/time
# reset() restores the defaults and forgets the interfaces.

from vclock import CLOCK

STA_IF = 0
AP_IF = 1
# ESP32 status codes
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_IP = ("192.168.4.23", "255.255.255.0", "192.168.4.1", "192.168.4.1")
_PPP_IP = ("10.64.12.7", "255.255.255.255", "10.64.64.64", "10.11.12.13")


class _World:
    def __init__(self):
        self.aps = {}
        self.connect_ms = 1500
        self.ppp_ok = True
        self.ppp_connect_ms = 3000
        self.generation = 0  # bumped by drop(): associations made before are lost

    def drop(self):
        self.generation += 1


WORLD = _World()
_ifaces = {}


def reset():
    WORLD.__init__()
    _ifaces.clear()


class WLAN:
    def __new__(cls, interface=STA_IF):
        # One object per interface, as on the ESP32.
        if interface not in _ifaces:
            o = object.__new__(cls)
            o._init(interface)
            _ifaces[interface] = o
        return _ifaces[interface]

    def __init__(self, interface=STA_IF):
        pass

    def _init(self, interface):
        self.interface = interface
        self._active = False
        self._ssid = None
        self._key = None
        self._t0 = 0
        self._gen = 0
        self._status = STAT_IDLE
        self.connects = 0  # calls to connect(), for tests
        self.settings = {"reconnects": -1, "hostname": "esp32"}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._status = STAT_IDLE
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        self.connects += 1
        self._ssid = ssid
        self._key = key
        self._t0 = CLOCK.ticks_ms()
        self._gen = WORLD.generation
        self._status = STAT_CONNECTING

    def disconnect(self):
        self._status = STAT_IDLE

    def _update(self):
        st = self._status
        if st == STAT_GOT_IP and self._gen != WORLD.generation:
            self._status = STAT_BEACON_TIMEOUT
        elif st == STAT_CONNECTING:
            if CLOCK.ticks_diff(CLOCK.ticks_ms(), self._t0) < WORLD.connect_ms:
                return
            ap = WORLD.aps.get(self._ssid)
            if ap is None or self._gen != WORLD.generation:
                self._status = STAT_NO_AP_FOUND
            elif ap.get("key") != self._key:
                self._status = STAT_WRONG_PASSWORD
            else:
                self._status = STAT_GOT_IP

    def isconnected(self):
        self._update()
        return self._status == STAT_GOT_IP

    def status(self, param=None):
        self._update()
        if param is None:
            return self._status
        if param == "rssi":
            if self._status != STAT_GOT_IP:
                raise OSError("STA is not connected")
            return WORLD.aps[self._ssid].get("rssi", -60)
        raise ValueError("unknown status param")

    def config(self, *args, **kw):
        if kw:
            self.settings.update(kw)
            return None
        p = args[0]
        if p == "mac":
            return b"\x24\x0a\xc4\x12\x34\x56"
        if p == "ssid":
            return self._ssid
        if p == "rssi":
            return self.status("rssi")
        if p in self.settings:
            return self.settings[p]
        raise ValueError("unknown config param")

    def ifconfig(self, cfg=None):
        if cfg is not None:
            return None
        return _IP if self.isconnected() else ("0.0.0.0",) * 4

    def ipconfig(self, key):
        if key == "addr4":
            c = self.ifconfig()
            return (c[0], c[1])
        raise ValueError("unknown ipconfig param")

    def scan(self):
        return [(s.encode(), b"\x00" * 6, 6, ap.get("rssi", -60), AUTH_WPA2_PSK, False)
                for s, ap in WORLD.aps.items()]


class PPP:
    AUTH_NONE = 0
    AUTH_PAP = 1
    AUTH_CHAP = 2
    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2

    def __init__(self, stream):
        self.stream = stream
        self._active = False
        self._t0 = None
        self.auth = None

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._t0 = None
        return None

    def connect(self, authmode=AUTH_NONE, username=None, password=None, security=None,
                user=None, key=None):
        if not self._active:
            raise OSError("PPP not active")
        self.auth = (authmode if security is None else security, username or user,
                     password or key)
        self._t0 = CLOCK.ticks_ms()

    def isconnected(self):
        return (self._t0 is not None and WORLD.ppp_ok
                and CLOCK.ticks_diff(CLOCK.ticks_ms(), self._t0) >= WORLD.ppp_connect_ms)

    def status(self):
        return 1 if self.isconnected() else 0

    def ifconfig(self, cfg=None):
        return _PPP_IP if self.isconnected() else ("0.0.0.0",) * 4

    def ipconfig(self, key):
        c = self.ifconfig()
        return (c[0], c[1])
