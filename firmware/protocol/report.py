# What the cabinet tells the server unasked: the retained status (birth) and telemetry.
#
# Telemetry every telemetry_s while a port has a session and every telemetry_idle_s
# otherwise: only the ports in a session or whose state changed since the last message,
# and a full snapshot at each connect, every telemetry_idle_s and on `status`. None until
# the wall clock is known (telemetry carries it). tick() costs one ticks_diff until a
# second has passed.

import json

from firmware.core.ticks import fresh

FW = "cabinet-fw 0.6.0"
_SEP = (",", ":")
_TELEMETRY = '{"t":%d%s,"ports":[%s]}'
_PORT = '{"p":%d,"s":"%s","w":%d}'
_SESSION = '{"p":%d,"s":"%s","w":%d,"wh":%d.%d,"fen":%d,"el":%d}'


def dumps(obj):
    return json.dumps(obj, separators=_SEP).encode()


class Report:
    def __init__(self, app, clock_set, cards, rssi=None, fw=FW):
        self.app = app
        self.cfg = app.cfg
        self.clock = app.clock
        self.clock_set = clock_set  # clock_set() -> True once the wall clock is known
        self.cards = cards  # the offline list: its size goes in the status
        self.rssi = rssi  # rssi() -> dBm or None
        self.fw = fw
        self.uplink = None
        now = self.clock.ticks_ms()
        self._connects = 0
        self._sent = None  # port states in the last telemetry; None: send a full one
        self._tm_ms = self._full_ms = now

    def attach(self, uplink):
        self.uplink = uplink

    def status_payload(self):
        app = self.app
        return dumps({"online": True, "fw": self.fw, "ports": app.n,
                      "rssi": self.rssi() if self.rssi else None, "boot": app.boot_no,
                      "cabinet": self.cfg["cabinet_id"], "cards": len(self.cards)})

    def publish_status(self):
        if self.uplink is not None:
            self.uplink.set_status(self.status_payload())  # the birth too, when down

    def publish_telemetry(self, full=False):
        """One telemetry message: False when the link is down (nothing is queued)."""
        up = self.uplink
        if up is None or not up.connected:
            return False
        app = self.app
        sent = self._sent
        full = full or sent is None
        ports = []
        states = [app.port_state(p) for p in range(app.n)]
        for p in range(app.n):
            s = app.session(p)
            st = states[p]
            if not full and s is None and sent[p] == st:
                continue
            if s is None:
                ports.append(_PORT % (p, st, app.port_power_w(p)))
            else:  # energy in exact tenths of a Wh (a float's repr may not be short)
                dwh = s.mwh // 100
                ports.append(_SESSION % (p, st, app.port_power_w(p), dwh // 10, dwh % 10,
                                         s.bill.fen, s.charge_ms // 1000))
        up.send_telemetry((_TELEMETRY % (self.clock.time(), ',"full":true' if full else "",
                                         ",".join(ports))).encode())
        self._sent = states
        now = self.clock.ticks_ms()
        self._tm_ms = now
        if full:
            self._full_ms = now
        return True

    def second(self, now):
        """Once a second: telemetry when due."""
        clock = self.clock
        self._tm_ms = fresh(clock, now, self._tm_ms)  # ages saturate (firmware/core/ticks.py)
        self._full_ms = fresh(clock, now, self._full_ms)
        up = self.uplink
        if up is None or not up.connected or not self.clock_set():
            return
        if up.connects != self._connects:  # a new connection: a full picture first
            self._connects = up.connects
            self._sent = None
        cfg = self.cfg
        idle_ms = cfg["telemetry_idle_s"] * 1000
        period_ms = cfg["telemetry_s"] * 1000 if self.app.busy() else idle_ms
        full = self._sent is None or clock.ticks_diff(now, self._full_ms) >= idle_ms
        if full or clock.ticks_diff(now, self._tm_ms) >= period_ms:
            self.publish_telemetry(full)
