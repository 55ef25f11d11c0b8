# The MQTT contract (PROTOCOL.md, docs/protocol.md) between the app and the uplink: the
# coordinator of the protocol parts.
#
#   cloud = Cloud(app, state_dir, outbox, set_time=..., rssi=...)
#   up = Uplink(uplink_opts(cfg), time, outbox, cloud.on_command, idle, cloud.status_payload())
#   cloud.attach(up)
#   loop: app.tick(); cloud.tick(); up.step(); if cloud.reboot_due(): up.close(); reset
#
# Inbound: on_command(payload, too_large) -> gate.py (JWS, exp, jti) -> commands.py (TABLE:
# argument parser, then the handler) -> exactly one reply on {root}/reply, garbage
# included (`{"jti": null, "ok": false, "error": "bad_token"}`). A reply goes through the
# uplink's urgent lane when connected (ahead of any backlog) and into the outbox (kind
# "reply", durable, in order) when not.
#
# The parts, each a file: gate.py (the token gate), settings.py (config overrides, live
# reconfiguration), cards.py (the offline card list, card authorisation), report.py
# (status and telemetry). Session records and alarms leave from the outbox (the uplink:
# QoS 1, acked after PUBACK).
#
# Card authorisation, for the resident flow (firmware/panel/resident.py):
#   rid = cloud.request_auth(card, port)  # None when the link is down: decide offline now
#   cloud.on_auth = fn(rid, ok, limit, order)  # called by an `auth_result` command
#   cloud.card_ok(card)  # the offline card list, for a timeout or no link
#
# Nothing here blocks or waits: tick() costs one ticks_diff until a second has passed.

from firmware.core import codes
from firmware.protocol import commands, settings
from firmware.protocol.cards import Cards
from firmware.protocol.gate import Gate
from firmware.protocol.report import FW, Report, dumps
from firmware.protocol.settings import load_overrides  # noqa: F401 (main.py)
from firmware.system import config as config_mod

MIN_EPOCH = 1700000000  # the wall clock counts as set from here (2023-11); boot is 2000
_MIN_2024_S = -4067200  # MIN_EPOCH in Clock.since2024_s() seconds (a small int)
RELAY_SETTLE_MS = 100  # a relay moved less than this ago may still be switching


def uplink_opts(cfg, read=None):
    """firmware/link/uplink.py options from the config (read(path) -> bytes for the CA file)."""
    o = {"host": cfg["mqtt_host"], "port": cfg["mqtt_port"], "prefix": cfg["mqtt_prefix"],
         "cabinet": cfg["cabinet_id"], "user": cfg["mqtt_user"] or None,
         "password": cfg["mqtt_password"] or None, "tls": cfg["mqtt_tls"],
         "keepalive_s": cfg["mqtt_keepalive_s"], "max_msg_bytes": cfg["max_msg_bytes"],
         "backlog_delay_max_ms": int(cfg["backlog_delay_s"] * 1000)}
    if cfg["mqtt_tls"] and cfg["mqtt_psk_key"]:  # TLS-PSK: no CA file needed
        o["psk_identity"] = cfg["mqtt_psk_identity"] or cfg["cabinet_id"]
        o["psk_key"] = cfg["mqtt_psk_key"]  # hex: slicesock.tls_context decodes it
    elif cfg["mqtt_tls"] and read is not None:
        o["cadata"] = read(cfg["mqtt_ca_file"])
    return o


class Cloud:
    def __init__(self, app, state_dir, outbox=None, set_time=None, rssi=None, fw=FW,
                 clock_set=None):
        self.app = app
        self.clock = clock = app.clock
        self.dir = state_dir
        self.outbox = outbox
        self.set_time = set_time  # set_time(epoch s): the wall clock (RTC)
        clock_set = clock_set or (  # once a second: small ints (Clock.since2024_s)
            lambda: clock.since2024_s() >= _MIN_2024_S)
        self.gate = Gate(app.cfg, state_dir, clock, clock_set)
        self.key = self.gate.key  # for the simulator's signer (tools/sim/simlink.py)
        self.cards = Cards(state_dir, self._save, app.cfg["cabinet_id"], app.boot_no, clock,
                           self._deliver)
        self.report = Report(app, clock_set, self.cards, rssi, fw)
        self.uplink = None
        self.on_auth = None  # on_auth(rid, ok, limit, order): the resident flow
        self.reboot_requested = False
        self.replies = 0
        self.refused = 0
        self._next_s = clock.ticks_ms()

    def attach(self, uplink):
        self.uplink = uplink
        self.report.attach(uplink)

    # --- inbound ---
    def on_command(self, payload, too_large=False):
        """One message from {root}/cmd (bytes; None with too_large). Returns the reply."""
        if too_large or payload is None:
            r = commands.reply(None, codes.E_TOO_LARGE)
        else:
            claims, jti, err = self.gate.open(payload)
            r = commands.reply(jti, err) if err is not None else commands.handle(self, claims)
        self.replies += 1
        if not r["ok"]:
            self.refused += 1
        self._send_reply(r)
        return r

    def _send_reply(self, r):
        up = self.uplink
        if up is None:
            return  # no link at all (net "none", or the simulator without a broker)
        if not up.urgent("reply", dumps(r)) and self.outbox is not None:
            self.outbox.put("reply", dict(r))  # link down or lane full: durable, in order

    # --- card authorisation ---
    def request_auth(self, card, port):
        return self.cards.request(self.uplink, card, port, dumps)

    def card_ok(self, card):
        return self.cards.ok(card)

    def _deliver(self, rid, ok, limit, order):
        if self.on_auth is not None:
            self.on_auth(rid, ok, limit, order)

    # --- the `config` and `reboot` commands ---
    def configure(self, partial):
        return settings.apply(self.app, self.dir, self._save, partial)

    def request_reboot(self):
        self.reboot_requested = True

    def reboot_due(self):
        """True when a reboot was asked for, no relay is mid-switch and the reply is out."""
        if not self.reboot_requested:
            return False
        if not self.app.settled(self.clock.ticks_ms(), RELAY_SETTLE_MS):
            return False
        up = self.uplink
        return up is None or not up.connected or not up.lane

    # --- outbound ---
    def status_payload(self):
        return self.report.status_payload()

    def publish_status(self):
        self.report.publish_status()

    def publish_telemetry(self, full=False):
        return self.report.publish_telemetry(full)

    def tick(self):
        """Every control tick: telemetry when due, request expiry. Cheap until a second."""
        clock = self.clock
        now = clock.ticks_ms()
        if clock.ticks_diff(now, self._next_s) < 0:
            return
        self._next_s = clock.ticks_add(now, 1000)
        self.cards.expire(now)
        self.report.second(now)

    def _save(self, name, obj):
        try:
            config_mod.save(self.dir + "/" + name, obj)
        except OSError:  # flash full or failing: keep it in RAM until the next boot
            self.app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, name + ": write failed")
