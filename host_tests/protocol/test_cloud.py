# firmware/protocol/cloud.py and commands.py: every op of PROTOCOL.md through the signed
# path, each reply code, "a rejected command changes nothing", the offline card list,
# config applied live and persisted, authorisation requests, telemetry and the reply
# policy (urgent lane when up, outbox when down). A real App on the virtual board.
import binascii
import json

import scenario
import scenkit
import simlink
from jsonlines import JsonLines
from run import Sim
from vclock import CLOCK

from firmware.core import codes
from firmware.protocol import jws
from firmware.protocol.cloud import load_overrides
from firmware.system import config as config_mod

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

KEY = binascii.unhexlify(config_mod.TEST_KEY)
_N = [0]


class FakeUplink:
    """The uplink as the cloud sees it: urgent(), send_telemetry(), set_status()."""

    def __init__(self):
        self.connected = True
        self.connects = 1
        self.lane = []
        self.sent = []  # (kind, obj) through urgent()
        self.telemetry = []
        self.status = None

    def urgent(self, kind, payload, keep=True):
        if not self.connected:
            return False
        self.sent.append((kind, json.loads(payload)))
        return True

    def send_telemetry(self, payload):
        if self.connected:
            self.telemetry.append(json.loads(payload))
        return self.connected

    def set_status(self, payload):
        self.status = json.loads(payload)


def cabinet(ports=4, config=None, events=()):
    sc = scenario.load(scenkit.scenario(events, ports, 36000, config))
    out = JsonLines()
    sim = Sim(sc, out)
    cloud = simlink.make_cloud(sim)
    up = FakeUplink()
    cloud.attach(up)
    return sim, cloud, up


def token(claims, key=KEY, ttl=300):
    _N[0] += 1
    c = {"jti": "t-%d" % _N[0], "exp": CLOCK.time() + ttl}
    c.update(claims)
    return jws.sign(c, key).encode()


def send(cloud, claims, **kw):
    return cloud.on_command(token(claims, **kw))


def state(sim, cloud):
    """Everything a rejected command must leave alone."""
    app = sim.app
    ports = app.ports
    return ([p.state for p in ports], [p.session and p.session.sid for p in ports],
            [p.relay_on for p in ports], [p.want_on for p in ports], json.dumps(app.cfg),
            sorted(cloud.cards), CLOCK.time(), cloud.reboot_requested,
            app.protection.limit_mw, sim.outbox.count,
            [p.session and p.session.bill.fen for p in ports])


def test_start_stop_estop_unlock_over_the_signed_path():
    sim, cloud, up = cabinet()
    try:
        r = send(cloud, {"op": "start", "port": 1, "limit": {"minutes": 30}, "order": "o-7"})
        assert r["ok"] is True and r["jti"].startswith("t-")
        s = sim.app.session(1)
        assert s.auth == "remote" and s.order == "o-7" and s.limit_kind == "minutes"
        assert up.sent[-1] == ("reply", r)  # the reply went out through the lane
        assert send(cloud, {"op": "stop", "port": 1})["ok"]
        assert sim.app.session(1) is None
        assert send(cloud, {"op": "start", "port": 2, "limit": {"full": True}})["ok"]
        assert send(cloud, {"op": "estop"})["ok"]
        assert sim.app.session(2) is None and not any(p.relay_on for p in sim.app.ports)
        sim.app.ports[3].lock(codes.OVERCURRENT)
        assert send(cloud, {"op": "start", "port": 3, "limit": {"wh": 100}}) == {
            "jti": "t-%d" % _N[0], "ok": False, "error": "port_locked"}
        assert send(cloud, {"op": "unlock", "port": 3})["ok"]
        assert sim.app.port_state(3) == codes.IDLE
    finally:
        sim.close()


def test_every_refusal_code_and_nothing_changes():
    sim, cloud, up = cabinet(config={"feeder_limit_w": 300, "feeder_full_action": "refuse"})
    try:
        assert send(cloud, {"op": "start", "port": 0, "limit": {"full": True}})["ok"]
        sim.app.ports[1].lock(codes.SMOKE)
        before = state(sim, cloud)
        jti0 = "t-%d" % (_N[0] + 1)
        cases = [
            ({"op": "start", "port": 0, "limit": {"full": True}}, "port_busy"),
            ({"op": "start", "port": 1, "limit": {"full": True}}, "port_locked"),
            ({"op": "start", "port": 2, "limit": {"full": True}}, "feeder_full"),
            ({"op": "start", "port": 4, "limit": {"full": True}}, "bad_args"),
            ({"op": "start", "port": -1, "limit": {"full": True}}, "bad_args"),
            ({"op": "start", "port": True, "limit": {"full": True}}, "bad_args"),
            ({"op": "start", "port": "2", "limit": {"full": True}}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"minutes": 0}}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"minutes": 5, "wh": 3}}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": False}}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": True}, "order": 5}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": True}, "order": "x" * 65}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": True}, "offpeak": 1}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": True}, "tariff": {"x": 1}}, "bad_args"),
            ({"op": "start", "port": 2, "limit": {"full": True},
              "tariff": {"energy_fen_per_kwh": -1}}, "bad_args"),
            ({"op": "stop", "port": 2}, "bad_args"),  # no session there
            ({"op": "unlock"}, "bad_args"),
            ({"op": "auth_result", "rid": "nope", "ok": True}, "bad_args"),
            ({"op": "auth_result", "rid": "r", "ok": "yes"}, "bad_args"),
            ({"op": "cards", "add": ["XYZ"]}, "bad_args"),
            ({"op": "cards", "add": ["04A1B2C3"], "remove": "04"}, "bad_args"),
            ({"op": "cards"}, "bad_args"),
            ({"op": "config", "config": {"port_limit_w": 99999}}, "bad_args"),
            ({"op": "config", "config": {"port_limit_w": 500, "nope": 1}}, "bad_args"),
            ({"op": "config", "config": {"cabinet_warn_c": 90}}, "bad_args"),  # >= stop
            ({"op": "config", "config": []}, "bad_args"),
            ({"op": "time", "now": "1764201600"}, "bad_args"),
            ({"op": "time", "now": 5}, "bad_args"),
            ({"op": "time"}, "bad_args"),
            ({"op": "launch"}, "unknown_op"),
            ({"op": 7}, "unknown_op"),
            ({}, "unknown_op"),
        ]
        for claims, code in cases:
            r = send(cloud, claims)
            assert r == {"jti": "t-%d" % (_N[0]), "ok": False, "error": code}, (claims, r)
            assert state(sim, cloud) == before, claims
        assert _N[0] == int(jti0[2:]) + len(cases) - 1
    finally:
        sim.close()


def test_token_level_refusals_carry_no_or_the_verified_jti():
    sim, cloud, up = cabinet()
    try:
        before = state(sim, cloud)
        assert cloud.on_command(b"\x00\xff garbage") == {"jti": None, "ok": False,
                                                          "error": "bad_token"}
        assert cloud.on_command(b"a.b.c")["error"] == "bad_token"
        assert cloud.on_command(b"")["error"] == "bad_token"
        assert cloud.on_command(None, True) == {"jti": None, "ok": False, "error": "too_large"}
        assert cloud.on_command(b"x" * 5000)["error"] == "bad_token"  # over max_msg_bytes
        r = send(cloud, {"op": "estop"}, key=b"another key")
        assert r == {"jti": None, "ok": False, "error": "bad_signature"}
        r = send(cloud, {"op": "estop"}, ttl=-1)
        assert r == {"jti": "t-%d" % _N[0], "ok": False, "error": "expired"}
        r = send(cloud, {"op": "estop"}, ttl=3 * 86400)  # exp too far ahead
        assert r["error"] == "bad_args"
        r = cloud.on_command(jws.sign({"op": "estop", "exp": CLOCK.time() + 60}, KEY).encode())
        assert r == {"jti": None, "ok": False, "error": "bad_args"}  # no jti
        assert state(sim, cloud) == before
        tok = token({"op": "status"})
        assert cloud.on_command(tok)["ok"]
        assert cloud.on_command(tok)["error"] == "replayed"
        assert len([k for k, _ in up.sent if k == "reply"]) == 11  # one reply each
        assert cloud.replies == 11 and cloud.refused == 10
    finally:
        sim.close()


def test_reply_goes_to_the_outbox_when_the_link_is_down():
    sim, cloud, up = cabinet()
    try:
        up.connected = False
        n = sim.outbox.count
        r = send(cloud, {"op": "status"})
        assert r["ok"] and sim.outbox.count == n + 1
        rid, kind, payload = sim.outbox.peek()
        while kind != "reply":
            sim.outbox.ack(rid)
            rid, kind, payload = sim.outbox.peek()
        got = json.loads(payload)
        assert got["jti"] == r["jti"] and got["ok"] is True and got["id"]
    finally:
        sim.close()


def test_offline_card_list_persisted_with_a_bound():
    sim, cloud, up = cabinet()
    try:
        assert send(cloud, {"op": "cards", "add": ["04a1b2c3", "04A1B2C4"]})["ok"]
        assert cloud.card_ok("04A1B2C3") and cloud.card_ok("04a1b2c4")
        assert send(cloud, {"op": "cards", "remove": ["04A1B2C4"]})["ok"]
        assert not cloud.card_ok("04A1B2C4") and up.status["cards"] == 1
        again = simlink.make_cloud(sim)  # a reboot reads the list back
        assert sorted(again.cards) == ["04A1B2C3"]
        many = ["%08X" % i for i in range(500)]
        # A token carries about 130 ids of 8 digits within max_msg_bytes (2048): batches.
        assert send(cloud, {"op": "cards", "add": many})["error"] == "bad_token"
        for i in range(0, 400, 100):
            assert send(cloud, {"op": "cards", "add": many[i:i + 100]})["ok"]
        assert send(cloud, {"op": "cards", "add": many[400:]})["error"] == "bad_args"  # 501
        assert len(cloud.cards) == 401
        assert send(cloud, {"op": "cards", "add": many[400:], "remove": ["04A1B2C3"]})["ok"]
        assert len(simlink.make_cloud(sim).cards) == 500 and not cloud.card_ok("04A1B2C3")
    finally:
        sim.close()


def test_config_applied_live_persisted_and_restart_keys_reported():
    sim, cloud, up = cabinet()
    try:
        app = sim.app
        assert send(cloud, {"op": "start", "port": 0, "limit": {"full": True}})["ok"]
        r = send(cloud, {"op": "config", "config": {"port_limit_w": 600, "full_w": 40,
                                                    "energy_fen_per_kwh": 70,
                                                    "telemetry_s": 30, "cabinet_id": "x-9"}})
        assert r["ok"] and r["restart"] == ["cabinet_id"]
        assert app.protection.limit_mw == 600000 and app.cfg["telemetry_s"] == 30
        assert app.cfg["cabinet_id"] == "sim-001"  # takes effect at the next boot
        assert app.tariff.energy_fen_per_kwh == 70
        assert app.ports[1].judge.rules.full_mw == 40000  # idle port: at once
        assert app.ports[0].judge.rules.full_mw == 30000  # busy port: from its next session
        app.ports[0].end(codes.REMOTE_STOP)
        CLOCK.advance_ms(1000)
        app.tick()  # the app reconfigures an idle judge within a second
        assert app.ports[0].judge.rules.full_mw == 40000
        # top-level keys work too; persisted overrides merge over the boot config
        assert send(cloud, {"op": "config", "overpower_hold_s": 7})["ok"]
        cfg, problems = load_overrides(sim.state_dir, config_mod.defaults())
        assert not problems and cfg["port_limit_w"] == 600 and cfg["cabinet_id"] == "x-9"
        assert cfg["overpower_hold_s"] == 7
    finally:
        sim.close()


def test_time_status_and_reboot():
    sim, cloud, up = cabinet()
    try:
        assert send(cloud, {"op": "time", "now": 1800000000})["ok"]
        assert CLOCK.time() == 1800000000
        assert send(cloud, {"op": "status"})["ok"]
        assert up.status["online"] is True and up.status["ports"] == 4
        assert up.telemetry[-1]["full"] is True and len(up.telemetry[-1]["ports"]) == 4
        CLOCK.advance_ms(200)  # past the relays' settling time since the boot
        assert not cloud.reboot_due()
        assert send(cloud, {"op": "reboot"})["ok"]
        assert cloud.reboot_due()
        assert send(cloud, {"op": "start", "port": 0, "limit": {"full": True}})["ok"]
        while not sim.app.ports[0].relay_on:  # its staggered closing, after the boot hold
            sim.board.step(sim.tick_ms)
            sim.app.tick()
        assert not cloud.reboot_due()  # a relay that has just moved: wait for it
        CLOCK.advance_ms(200)
        assert cloud.reboot_due()
    finally:
        sim.close()


def test_card_authorisation_request_and_answer():
    sim, cloud, up = cabinet()
    try:
        got = []
        cloud.on_auth = lambda rid, ok, limit, order: got.append((rid, ok, limit, order))
        rid = cloud.request_auth("04A1B2C3", 2)
        kind, msg = up.sent[-1]
        assert kind == "auth" and msg["rid"] == rid and msg["card"] == "04A1B2C3"
        assert msg["port"] == 2
        r = send(cloud, {"op": "auth_result", "rid": rid, "ok": True, "limit": {"wh": 200},
                         "order": "o-1"})
        assert r["ok"] and got == [(rid, True, {"wh": 200}, "o-1")]
        assert send(cloud, {"op": "auth_result", "rid": rid, "ok": True})["error"] == "bad_args"
        up.connected = False
        assert cloud.request_auth("04A1B2C3", 2) is None  # decide offline at once
    finally:
        sim.close()


def test_telemetry_lists_session_and_changed_ports_with_a_full_one_first():
    sim, cloud, up = cabinet()
    try:
        app = sim.app
        CLOCK.advance_ms(1000)
        cloud.tick()
        first = up.telemetry[-1]
        assert first["full"] is True and [p["p"] for p in first["ports"]] == [0, 1, 2, 3]
        assert send(cloud, {"op": "start", "port": 2, "limit": {"full": True}})["ok"]
        CLOCK.advance_ms(121000)
        cloud.tick()
        m = up.telemetry[-1]
        assert "full" not in m and m["ports"] == [{"p": 2, "s": app.port_state(2), "w": 0,
                                                   "wh": 0.0, "fen": 0, "el": 0}]
        app.ports[2].end(codes.REMOTE_STOP)
        CLOCK.advance_ms(1000)
        cloud.tick()
        assert len(up.telemetry) == 2  # idle now: the next one is telemetry_idle_s away
        CLOCK.advance_ms(900000)
        cloud.tick()
        assert up.telemetry[-1]["full"] is True
    finally:
        sim.close()


def test_session_tariff_from_the_start_command_survives_a_power_cut():
    ev = [{"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
          {"t": 1, "port": 1, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
          {"t": 2, "cmd": {"op": "start", "port": 0, "limit": {"full": True},
                           "tariff": {"energy_fen_per_kwh": 0, "service_fen_per_kwh": 0}}},
          {"t": 2, "cmd": {"op": "start", "port": 1, "limit": {"full": True}}},
          {"t": 1800, "power_cut": {"duration_s": 60}},
          {"t": 3600, "cmd": {"op": "estop"}}]
    sim, cloud, up = cabinet(events=ev)
    try:
        sim.run(until_s=3700)
        ends = [e for e in sim.log.out.events if e["ev"] == "session_end"]
        by = {e["port"]: e for e in ends}
        assert by[0]["wh"] > 100 and by[0]["fen"] == 0  # its own (free) tariff, kept
        assert by[1]["wh"] > 100 and by[1]["fen"] > 10  # the cabinet's prices
        replies = [e for e in sim.log.out.events if e["ev"] == "reply"]
        assert [r["ok"] for r in replies] == [True, True, True]
    finally:
        sim.close()
