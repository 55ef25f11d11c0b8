# The protocol's parts one by one, on a stand-in app: the command TABLE (every op one row,
# parser then handler, no string-built names), the token gate, the settings (LIVE keys
# from the config SCHEMA, overrides kept for the next boot), the card list and card
# authorisation, and the coordinator that joins them (firmware/protocol/).
import binascii
import json
import os
import re

from stepclock import Clock

from firmware.core import billing, codes
from firmware.protocol import cards as cards_mod
from firmware.protocol import commands, jws, settings
from firmware.protocol.cloud import Cloud
from firmware.protocol.gate import Gate
from firmware.system import config as config_mod

KEY = binascii.unhexlify(config_mod.TEST_KEY)
NOW = 1764201600  # 2025-11-27

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class App:
    """The app's verbs and views the protocol uses (firmware/core/app.py), recorded."""

    def __init__(self, n=4):
        self.cfg = config_mod.defaults()
        self.clock = Clock(NOW)
        self.n = n
        self.boot_no = 7
        self.calls = []
        self.sessions = [None] * n
        self.tariff = billing.tariff(self.cfg)

    def start(self, p, auth, limit, order=None, offpeak=False, tariff=None):
        self.calls.append(("start", p, auth, limit, order, offpeak, tariff))

    def stop(self, p, reason):
        self.calls.append(("stop", p, reason))

    def estop(self):
        self.calls.append(("estop",))

    def unlock(self, p):
        self.calls.append(("unlock", p))

    def session(self, p):
        return self.sessions[p]

    def port_state(self, p):
        return codes.IDLE

    def port_power_w(self, p):
        return 0

    def busy(self):
        return False

    def settled(self, now, settle_ms):
        return True

    def configure(self, cfg, keys):
        self.tariff = billing.tariff(cfg)
        self.calls.append(("configure", sorted(keys)))

    def raise_alarm(self, code, port, level, value=None):
        self.calls.append(("alarm", code, value))


def _cloud(tmp_path, **kw):
    app = App()
    return app, Cloud(app, str(tmp_path), **kw)


def _send(cloud, claims, key=KEY):
    c = dict({"jti": "j%d" % len(cloud.gate.replay.seen), "exp": NOW + 60}, **claims)
    return cloud.on_command(jws.sign(c, key).encode())


def test_every_op_is_one_table_row_of_parser_and_handler():
    assert set(commands.TABLE) == {"start", "stop", "estop", "unlock", "auth_result", "cards",
                                   "config", "time", "status", "reboot"}
    assert commands.OPS == tuple(commands.TABLE)
    for op, (parse, handler) in commands.TABLE.items():
        assert callable(parse) and callable(handler), op
    with open(commands.__file__) as f:
        src = f.read()
    assert "getattr" not in src and "_parse_limit" not in src and "cmd_" not in src


def test_a_new_op_is_one_row(tmp_path, monkeypatch):
    app, cloud = _cloud(tmp_path)
    monkeypatch.setitem(commands.TABLE, "ping", (commands.parse_port,
                                                 lambda ctx, p: {"pong": p}))
    assert _send(cloud, {"op": "ping", "port": 2}) == {"jti": "j0", "ok": True, "pong": 2}
    assert _send(cloud, {"op": "ping", "port": 9})["error"] == codes.E_BAD_ARGS


def test_parsers_check_before_handlers_act(tmp_path):
    app, cloud = _cloud(tmp_path)
    assert _send(cloud, {"op": "start", "port": 1, "limit": {"wh": 0}})["error"] == "bad_args"
    assert _send(cloud, {"op": "stop", "port": 1})["error"] == "bad_args"  # no session
    assert _send(cloud, {"op": "nope"})["error"] == "unknown_op"
    assert app.calls == []
    assert _send(cloud, {"op": "start", "port": 1, "limit": {"wh": 300}, "order": "o-1"})["ok"]
    assert app.calls == [("start", 1, "remote", {"wh": 300}, "o-1", False, None)]
    app.sessions[1] = object()
    assert _send(cloud, {"op": "stop", "port": 1})["ok"]
    assert app.calls[-1] == ("stop", 1, codes.REMOTE_STOP)


def test_gate_refuses_before_any_claim_is_read(tmp_path):
    clock = Clock(NOW)
    g = Gate(config_mod.defaults(), str(tmp_path), clock, lambda: True)
    ok = jws.sign({"op": "status", "jti": "a", "exp": NOW + 60}, KEY).encode()
    assert g.open(ok)[2] is None and g.open(ok) == (None, "a", codes.E_REPLAYED)
    wrong = jws.sign({"op": "status", "jti": "b", "exp": NOW + 60}, b"x" * 32).encode()
    assert g.open(wrong) == (None, None, codes.E_BAD_SIGNATURE)
    late = jws.sign({"op": "status", "jti": "c", "exp": NOW - 1}, KEY).encode()
    assert g.open(late) == (None, "c", codes.E_EXPIRED)
    assert g.open(b"garbage") == (None, None, codes.E_BAD_TOKEN)


def test_live_keys_come_from_the_schema():
    live = [k for k in config_mod.SCHEMA if config_mod.live(k)]
    assert "port_limit_w" in live and "door_open_s" in live and "tiers" in live
    assert "ports" not in live and "cmd_key" not in live and "meter_silent_s" not in live
    assert not config_mod.live("no_such_key")


def test_settings_apply_live_keys_now_and_the_others_at_the_next_boot(tmp_path):
    app, cloud = _cloud(tmp_path)
    r = _send(cloud, {"op": "config", "config": {"port_limit_w": 900, "ports": 6,
                                                 "energy_fen_per_kwh": 60}})
    assert r == {"jti": "j0", "ok": True, "restart": ["ports"]}
    assert app.cfg["port_limit_w"] == 900 and app.cfg["ports"] == 10
    assert app.tariff.energy_fen_per_kwh == 60  # rebuilt by App.configure
    assert app.calls == [("configure", ["energy_fen_per_kwh", "port_limit_w", "ports"])]
    with open(os.path.join(str(tmp_path), "config.json")) as f:
        assert json.load(f) == {"port_limit_w": 900, "ports": 6, "energy_fen_per_kwh": 60}
    cfg, problems = settings.load_overrides(str(tmp_path), config_mod.defaults())
    assert problems == [] and cfg["ports"] == 6 and cfg["port_limit_w"] == 900


def test_settings_refuse_a_bad_config_whole(tmp_path):
    app, cloud = _cloud(tmp_path)
    for bad in ({"port_limit_w": 900, "nope": 1}, {"tiers": [[200.5, 30]]},
                {"tiers": [[0, 30]]}, {"door_open_s": 5}):
        assert _send(cloud, {"op": "config", "config": bad})["error"] == "bad_args", bad
    assert app.calls == [] and app.cfg["port_limit_w"] == 1000
    assert not os.path.exists(os.path.join(str(tmp_path), "config.json"))


def test_cards_list_bound_and_authorisation(tmp_path):
    app, cloud = _cloud(tmp_path)
    assert _send(cloud, {"op": "cards", "add": ["04a1b2c3"]})["ok"]
    assert cloud.card_ok("04A1B2C3") and len(cloud.cards) == 1
    kept = cards_mod.Cards(str(tmp_path), None, "x", 0, Clock(NOW), None)  # from flash
    assert kept.ok("04a1b2c3")
    many = ["%08X" % i for i in range(cards_mod.MAX_CARDS)]
    assert cloud.cards.update(many, []) == codes.E_BAD_ARGS  # (too big for one token)
    assert len(cloud.cards) == 1

    class Up:
        connected = True

        def urgent(self, kind, payload, keep=True):
            return True

    got = []
    cloud.on_auth = lambda *a: got.append(a)
    cloud.uplink = Up()
    rid = cloud.request_auth("04A1B2C3", 2)
    assert rid == "sim-001-7-r1"
    assert _send(cloud, {"op": "auth_result", "rid": rid, "ok": True})["ok"]
    assert got == [(rid, True, None, None)]
    assert _send(cloud, {"op": "auth_result", "rid": rid, "ok": True})["error"] == "bad_args"


def test_the_live_keys_table_in_the_doc_lists_exactly_the_live_keys():
    with open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8") as f:
        doc = f.read()
    table = doc.split("### Config keys over MQTT")[1].split("Every other key")[0]
    named = set(re.findall(r"`(\w+)`", table.split("| keys | where |")[1]))
    assert named == {k for k in config_mod.SCHEMA if config_mod.live(k)}


def test_every_op_has_its_schema_and_doc_row():
    with open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8") as f:
        doc = f.read()
    ops = doc.split("### Ops")[1].split("###")[0]
    for op in commands.TABLE:
        with open(os.path.join(ROOT, "docs", "schemas", "cmd_%s.json" % op)) as f:
            assert json.load(f)["properties"]["op"] == {"const": op}, op
        assert "| `%s` |" % op in ops, op
