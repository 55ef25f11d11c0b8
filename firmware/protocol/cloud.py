# The MQTT contract (PROTOCOL.md, docs/protocol.md) between the app and the uplink.
#
#   cloud = Cloud(app, state_dir, outbox, set_time=..., rssi=...)
#   up = Uplink(uplink_opts(cfg), time, outbox, cloud.on_command, idle, cloud.status_payload())
#   cloud.attach(up)
#   loop: app.tick(); cloud.tick(); up.step(); if cloud.reboot_due(): up.close(); reset
#
# Inbound: on_command(payload, too_large) -> JWS HS256 check with cmd_key -> exp and jti
# (replay.py, persisted in the state dir; exp is checked against time_floor while the
# clock is unset) -> commands.handle (argument checks, then the op) -> exactly one reply
# on {root}/reply, garbage included (`{"jti": null, "ok": false, "error": "bad_token"}`).
# A reply goes through the uplink's urgent lane when connected (ahead of any backlog) and
# into the outbox (kind "reply", durable, in order) when not.
#
# Outbound: the retained status (birth), telemetry every telemetry_s while a port has a
# session and every telemetry_idle_s otherwise (only the ports in a session or whose state
# changed since the last message, and a full snapshot at each connect, every
# telemetry_idle_s and on `status`), card authorisation requests. Session records and
# alarms leave from the outbox (the uplink: QoS 1, acked after PUBACK).
#
# Card authorisation, for the resident flow (firmware/panel/resident.py):
#   rid = cloud.request_auth(card, port)  # None when the link is down: decide offline now
#   cloud.on_auth = fn(rid, ok, limit, order)  # called by an `auth_result` command
#   cloud.card_ok(card)  # the offline card list, for a timeout or no link
#
# Nothing here blocks or waits: tick() costs one ticks_diff until a second has passed.

import binascii
import json

from firmware.core import codes
from firmware.core.app import JUDGE_KEYS
from firmware.core.ticks import fresh
from firmware.protocol import commands, jws
from firmware.protocol.replay import ReplayGuard
from firmware.system import config as config_mod

FW = "cabinet-fw 0.6.0"
MIN_EPOCH = 1700000000  # the wall clock counts as set from here (2023-11); boot is 2000
_MIN_2024_S = -4067200  # MIN_EPOCH in Clock.since2024_s() seconds (a small int)
MAX_CARDS = 500  # offline list bound: ~20 KB of RAM on the ESP32, ~5 KB on flash
AUTH_PENDING = 8  # authorisation requests remembered for an answer ...
AUTH_KEEP_MS = 60000  # ... this long
RELAY_SETTLE_MS = 100  # a relay moved less than this ago may still be switching
_SEP = (",", ":")
_TELEMETRY = '{"t":%d%s,"ports":[%s]}'
_PORT = '{"p":%d,"s":"%s","w":%d}'
_SESSION = '{"p":%d,"s":"%s","w":%d,"wh":%d.%d,"fen":%d,"el":%d}'

# Config keys a `config` command applies at once; every other key is persisted and takes
# effect at the next boot (the reply lists them under "restart").
PROTECTION_KEYS = ("port_limit_a", "port_limit_w", "overpower_hold_s", "resistive_limit_w",
                   "resistive_pf", "relay_weld_w", "cabinet_warn_c", "cabinet_stop_c",
                   "temp_hyst_c")
FEEDER_KEYS = ("feeder_limit_w", "start_reserve_w", "offpeak_hour", "tz_offset_h")
TARIFF_KEYS = commands.TARIFF_KEYS  # + tz_offset_h: sessions started from now on
OTHER_LIVE = ("max_session_s", "relay_stagger_ms", "feeder_full_action",
              "resume_after_power_loss", "telemetry_s", "telemetry_idle_s")
LIVE_KEYS = PROTECTION_KEYS + JUDGE_KEYS + FEEDER_KEYS + TARIFF_KEYS + OTHER_LIVE


def _dumps(obj):
    return json.dumps(obj, separators=_SEP).encode()


def _read_json(path):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def load_overrides(state_dir, cfg):
    """cfg with the config commands' overrides (state_dir/config.json) applied over it:
    (config, problems). Call at boot, before the app is built."""
    raw = _read_json(state_dir + "/config.json")
    if raw is None:
        return cfg, []
    return config_mod.validate(raw, cfg)


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
        self.cfg = app.cfg
        self.clock = app.clock
        self.dir = state_dir
        self.outbox = outbox
        self.set_time = set_time  # set_time(epoch s): the wall clock (RTC)
        self.rssi = rssi  # rssi() -> dBm or None
        self.fw = fw
        self.clock_set = clock_set or (  # once a second: small ints (Clock.since2024_s)
            lambda: self.clock.since2024_s() >= _MIN_2024_S)
        self.key = binascii.unhexlify(self.cfg["cmd_key"])
        self.replay = ReplayGuard(state_dir + "/replay.json")
        self.cards = _load_cards(state_dir + "/cards.json")
        self.uplink = None
        self.on_auth = None  # on_auth(rid, ok, limit, order): the resident flow
        self.auth_results = []  # [(rid, ok, limit, order)], the latest AUTH_PENDING
        self.pending = []  # [[rid, card, port, ticks_ms]] waiting for auth_result
        self.reboot_requested = False
        self.replies = 0
        self.refused = 0
        now = self.clock.ticks_ms()
        self._next_s = now
        self._rid = 0
        self._connects = 0
        self._sent = None  # port states in the last telemetry; None: send a full one
        self._tm_ms = self._full_ms = now

    def attach(self, uplink):
        self.uplink = uplink

    # --- inbound ---
    def on_command(self, payload, too_large=False):
        """One message from {root}/cmd (bytes; None with too_large). Returns the reply."""
        if too_large or payload is None:
            r = commands.reply(None, codes.E_TOO_LARGE)
        else:
            r = self._command(payload)
        self.replies += 1
        if not r["ok"]:
            self.refused += 1
        self._send_reply(r)
        return r

    def _command(self, token):
        claims, err = jws.verify(token, self.key, self.cfg["max_msg_bytes"])
        if err is not None:
            return commands.reply(None, err)
        jti = claims.get("jti")
        err = self.replay.check_and_add(jti, claims.get("exp"), self.clock.time(),
                                        self.clock_set())
        if err is not None:
            return commands.reply(jti, err)
        return commands.handle(self.app, claims, self)

    def _send_reply(self, r):
        up = self.uplink
        if up is None:
            return  # no link at all (net "none", or the simulator without a broker)
        if not up.urgent("reply", _dumps(r)) and self.outbox is not None:
            self.outbox.put("reply", dict(r))  # link down or lane full: durable, in order

    # --- card authorisation ---
    def request_auth(self, card, port):
        """Ask the server about a card: returns the request id, or None when it cannot be
        sent now (link down): the caller decides from the offline list at once."""
        up = self.uplink
        if up is None or not up.connected:
            return None
        self._rid += 1
        rid = "%s-%d-r%d" % (self.cfg["cabinet_id"], self.app.boot_no, self._rid)
        msg = {"rid": rid, "card": card, "port": port, "t": self.clock.time()}
        if not up.urgent("auth", _dumps(msg), False):
            return None
        self.pending.append([rid, card, port, self.clock.ticks_ms()])
        del self.pending[:-AUTH_PENDING]
        return rid

    def card_ok(self, card):
        return isinstance(card, str) and card.upper() in self.cards

    def cmd_auth_result(self, rid, ok, limit, order):
        for i in range(len(self.pending)):
            if self.pending[i][0] == rid:
                break
        else:
            return codes.E_BAD_ARGS  # never asked, or forgotten after AUTH_KEEP_MS
        del self.pending[i]
        self.auth_results.append((rid, ok, limit, order))
        del self.auth_results[:-AUTH_PENDING]
        if self.on_auth is not None:
            self.on_auth(rid, ok, limit, order)
        return None

    # --- the other commands (commands.py has checked the arguments) ---
    def cmd_cards(self, add, remove):
        new = set(self.cards)
        for c in remove:
            new.discard(c)
        for c in add:
            new.add(c)
        if len(new) > MAX_CARDS:
            return codes.E_BAD_ARGS
        self._save("cards.json", {"v": 1, "cards": sorted(new)})
        self.cards = new
        self.publish_status()
        return None

    def cmd_config(self, partial):
        app = self.app
        cfg = app.cfg
        new, problems = config_mod.validate(partial, cfg)
        if problems:
            return codes.E_BAD_ARGS
        tariff = app.tariff
        if any(k in partial for k in TARIFF_KEYS) or "tz_offset_h" in partial:
            try:
                tariff = _tariff(new)
            except (ValueError, TypeError, OverflowError):
                return codes.E_BAD_ARGS
        over = _read_json(self.dir + "/config.json")
        over = over if isinstance(over, dict) else {}
        for k in partial:
            over[k] = new[k]  # pins: the merged map
        self._save("config.json", over)
        restart = []
        for k in partial:
            if k in LIVE_KEYS:
                cfg[k] = new[k]
            elif new[k] != cfg[k]:
                restart.append(k)
        app.tariff = tariff
        app.configure(cfg, partial)
        return {"restart": restart} if restart else None

    def cmd_time(self, now):
        if self.set_time is None:
            return codes.E_UNKNOWN_OP  # no wall clock setter on this build
        self.set_time(now)
        return None

    def cmd_status(self):
        self.publish_status()
        self.publish_telemetry(True)

    def cmd_reboot(self):
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
        app = self.app
        return _dumps({"online": True, "fw": self.fw, "ports": app.n,
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

    def tick(self):
        """Every control tick: telemetry when due, request expiry. Cheap until a second."""
        clock = self.clock
        now = clock.ticks_ms()
        if clock.ticks_diff(now, self._next_s) < 0:
            return
        self._next_s = clock.ticks_add(now, 1000)
        self._tm_ms = fresh(clock, now, self._tm_ms)  # ages saturate (firmware/core/ticks.py)
        self._full_ms = fresh(clock, now, self._full_ms)
        if self.pending and clock.ticks_diff(now, self.pending[0][3]) >= AUTH_KEEP_MS:
            self.pending.pop(0)
        up = self.uplink
        if up is None or not up.connected or not self.clock_set():
            return  # telemetry carries the wall time: none until it is known
        if up.connects != self._connects:  # a new connection: a full picture first
            self._connects = up.connects
            self._sent = None
        busy = self.app.busy()
        cfg = self.cfg
        idle_ms = cfg["telemetry_idle_s"] * 1000
        period_ms = cfg["telemetry_s"] * 1000 if busy else idle_ms
        full = self._sent is None or clock.ticks_diff(now, self._full_ms) >= idle_ms
        if full or clock.ticks_diff(now, self._tm_ms) >= period_ms:
            self.publish_telemetry(full)

    # --- helpers ---
    def _save(self, name, obj):
        try:
            config_mod.save(self.dir + "/" + name, obj)
        except OSError:  # flash full or failing: keep it in RAM until the next boot
            self.app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, name + ": write failed")


def _load_cards(path):
    d = _read_json(path)
    cards = d.get("cards") if isinstance(d, dict) else None
    if not isinstance(cards, list):
        return set()
    return set(c for c in cards if isinstance(c, str))


def _tariff(cfg):
    from firmware.core import billing
    return billing.Tariff(cfg["energy_fen_per_kwh"], cfg["service_fen_per_kwh"],
                          cfg["tou_fen_per_kwh"], cfg["tiers"], cfg["tz_offset_h"])
