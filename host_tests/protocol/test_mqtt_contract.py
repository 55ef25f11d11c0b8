"""The MQTT contract end to end: the simulator (real firmware on the MicroPython unix port,
tools/sim/run.py --broker) against mosquitto, with a paho client as the operator's
server that validates every message it sees against docs/schemas.

- birth and will: the retained status, and {"online": false} once the process is killed;
- a 30-minute (virtual) broker outage in a busy scenario: every session record and alarm
  arrives afterwards, in order, duplicates only with the same id and payload;
- a broker that accepts TCP and never answers, and one that stalls mid-packet: short
  circuits trip exactly when they do with no broker at all (within one meter sweep), and
  the link recovers once a real broker is back;
- hostile commands over MQTT: the right reply code each, nothing changes, the firmware
  keeps running;
- a QR-style remote start signed by the server with PyJWT starts a session.
"""

import importlib.util
import os
import time

import pytest
import scenkit
from conftest import FULL
from mpy import ROOT
from mqttkit import KEY, Proxy, Server, SimProc, retained_status
from scenkit import LEAD, LITHIUM, plug, start
from schemas import check_mqtt

from tools.monitor.model import Model

SWEEP_S = 1.0  # model meters: one port per 100 ms slot, 10 ports
TICK_S = 0.25  # the simulator's control tick with model meters


def scenario(events, ports=10, duration_s=3600, config=None, start_epoch=None):
    return scenkit.scenario(events, ports, duration_s, config, start_epoch=start_epoch)


def record_ids(events):
    """Session records and alarms in the order the firmware queued them."""
    return [e["id"] for e in events if e["ev"] in ("session_start", "session_end", "alarm")]


def test_birth_retained_and_will_when_the_firmware_is_killed(broker, tmp_path):
    sim = SimProc(scenario([plug(2, 0), start(3, 0)]), broker.port, str(tmp_path), speed=1)
    try:
        sim.wait(lambda e: e["ev"] == "mqtt" and e["topic"].endswith("/status"), 15,
                 "the birth")
        status = check_mqtt("ebike/sim-001/status", retained_status(broker.port))
        assert status["online"] is True and status["ports"] == 10 and status["boot"] == 1
        sim.kill()  # SIGKILL: no DISCONNECT, no offline status of its own
        end = time.time() + 10
        while time.time() < end:
            payload = retained_status(broker.port)
            if payload != b'{"online": false}':
                time.sleep(0.1)
                continue
            break
        assert check_mqtt("ebike/sim-001/status", payload) == {"online": False}
    finally:
        sim.close()


def busy_outage_scenario():
    """10 ports, sessions ending, a trip, a temperature alarm and new starts during a
    30-minute outage (t 1000-2800)."""
    ev = []
    for p in range(8):
        ev.append(plug(10 + p, p, LEAD if p % 2 else LITHIUM, 0.2 + p * 0.05))
        limit = [{"minutes": 20 + 3 * p}, {"wh": 40 + 10 * p}, {"full": True},
                 {"fen": 4 + p}][p % 4]
        ev.append(start(12 + p, p, limit, order="ord-%d" % p))
    ev += [{"t": 1000, "broker": "down"},
           {"t": 1300, "port": 2, "fault": "short"},
           {"t": 1500, "temp": {"sensor": "cabinet", "c": 75.0}},
           {"t": 1700, "temp": {"sensor": "cabinet", "c": 30.0}},
           plug(1800, 8), start(1810, 8, {"minutes": 15}),
           {"t": 1900, "swipe": {"card": "04A1B2C3", "port": 9}},
           {"t": 2000, "cmd": {"op": "unlock", "port": 2}},
           {"t": 2800, "broker": "up"},
           {"t": 3000, "cmd": {"op": "estop"}}]
    return scenario(ev, duration_s=3300)


def test_outage_of_30_minutes_loses_nothing_and_keeps_order(broker, tmp_path):
    srv = Server(broker.port)
    sim = SimProc(busy_outage_scenario(), broker.port, str(tmp_path))
    try:
        events = sim.finish(300)
        time.sleep(0.5)  # the last PUBACKed records reach the subscriber
    finally:
        sim.close()
        srv.close()
    assert not srv.bad, srv.bad[:3]
    down = [e["t"] for e in events if e["ev"] == "broker" and e["state"] == "down"][0]
    up = [e["t"] for e in events if e["ev"] == "broker" and e["state"] == "up"][0]
    queued = record_ids(events)
    during = [e["id"] for e in events if e["ev"] in ("session_start", "session_end", "alarm")
              and down <= e["t"] < up]
    assert len(during) >= 8, during  # ends, a trip, its lock, alarms, starts
    got = [(m[2]["id"], m[2]) for m in srv.msgs if m[1] in ("event", "alarm")]
    first = []
    seen = {}
    for rid, obj in got:
        if rid in seen:
            assert seen[rid] == obj, "duplicate %s differs" % rid  # same id, same record
            continue
        seen[rid] = obj
        first.append(rid)
    assert first == queued  # every one, in the order queued, none lost
    # ... and those queued during the outage only went out after it.
    sent_t = {}
    for e in events:
        if e["ev"] == "mqtt" and (e["topic"].endswith("/event") or e["topic"].endswith("/alarm")):
            sent_t.setdefault(e["payload"].split('"id":"')[1].split('"')[0], e["t"])
    assert all(sent_t[i] >= up for i in during)
    assert all(sent_t[i] < down for i in queued[:queued.index(during[0])])
    # Replies to the commands given while down are delivered afterwards too.
    reply_jtis = [r["jti"] for r in srv.of("reply")]
    assert [e["jti"] for e in events if e["ev"] == "reply"] == reply_jtis
    print("\noutage %.0f-%.0f s virtual: %d records and alarms queued during it, %d in all, "
          "all delivered after, in order; %d duplicates"
          % (down, up, len(during), len(queued), len(got) - len(first)))


def test_power_cut_and_reboot_command_give_will_then_a_new_birth(broker, tmp_path):
    srv = Server(broker.port)
    ev = [plug(1, 0), start(2, 0, {"minutes": 10}), {"t": 200, "power_cut": {"duration_s": 60}},
          {"t": 600, "cmd": {"op": "reboot"}}]
    sim = SimProc(scenario(ev, ports=4, duration_s=900), broker.port, str(tmp_path))
    try:
        events = sim.finish(120)
        time.sleep(0.3)
    finally:
        sim.close()
        srv.close()
    assert not srv.bad, srv.bad[:3]
    seq = [(o["online"], o.get("boot")) for o in srv.of("status")]
    # birth; the power cut (will); birth after boot; the reboot (orderly offline); birth;
    # the end of the run (orderly offline)
    assert seq == [(True, 1), (False, None), (True, 2), (False, None), (True, 3),
                   (False, None)], seq
    assert [e["ev"] for e in events if e["ev"] in ("power", "reboot")] == ["power", "power",
                                                                          "reboot"]
    end = [o for o in srv.of("event") if o["ev"] == "session_end"]
    assert [(o["reason"], o["charge_s"]) for o in end] == [("time_limit", 600)]  # resumed twice


FAULT_T = (60, 140, 230)


def trip_scenario():
    ev = [plug(2, p, LEAD, 0.3) for p in range(3)]
    ev += [start(3, p, {"full": True}) for p in range(3)]
    ev += [{"t": t, "port": i, "fault": "short"} for i, t in enumerate(FAULT_T)]
    return scenario(ev, duration_s=300, config={"boot_hold_s": 0})


def trip_times(events):
    out = []
    for p, t in enumerate(FAULT_T):
        offs = [e["t"] for e in events if e["ev"] == "relay" and e["port"] == p
                and not e["on"] and e["t"] >= t]
        out.append(round(offs[0] - t, 3))
    return out


@pytest.mark.parametrize("mode", ["dead", "stall"])
def test_short_circuit_trips_on_time_behind_a_dead_or_stalled_broker(broker, tmp_path, mode):
    # The same scenario without a broker gives the reference trip times.
    ref = SimProc(trip_scenario(), None, str(tmp_path), name="ref").finish(120)
    want = trip_times(ref)
    assert all(0 < d <= SWEEP_S + TICK_S for d in want), want
    proxy = Proxy(broker.port, mode)
    srv = Server(broker.port)
    # Short link timeouts keep the test brief; each dead wait is still 40-60 virtual s.
    link = {"connect_timeout_ms": 3000, "op_timeout_ms": 2000, "backoff_min_ms": 100,
            "backoff_max_ms": 300, "keepalive_s": 10, "ping_timeout_ms": 2000}
    sim = SimProc(trip_scenario(), proxy.port, str(tmp_path), speed=20, link=link)
    try:
        sim.wait(lambda e: e["ev"] == "relay" and e["port"] == 2 and not e["on"], 60,
                 "the third trip")
        if mode == "dead":
            assert not srv.of("status"), "nothing may reach the broker yet"
        else:  # up (the birth got its PUBACK), then stuck mid-packet: dropped on a deadline
            drops = sim.of("uplink", up=False)
            assert drops and all("110" in d["error"] for d in drops), drops
        proxy.set_mode("live")
        srv.wait("status", lambda o: o["online"], 30)
        ends = {}
        while len(ends) < 3:
            o = srv.wait("event", lambda o: o["ev"] == "session_end", 30)
            ends[o["port"]] = o["reason"]
        events = sim.finish(120)
    finally:
        sim.close()
        proxy.close()
        srv.close()
    got = trip_times(events)
    # The network costs nothing in virtual time: every trip is still within one meter
    # sweep plus one tick. (Not bit-equal to the reference: the front panel's bus
    # transfers take virtual time too, so ticks fall differently once the link waits.)
    assert all(0 < d <= SWEEP_S + TICK_S for d in got), (got, want)
    assert ends == {0: "overcurrent", 1: "overcurrent", 2: "overcurrent"}
    assert not srv.bad, srv.bad[:3]
    stats = [e for e in events if e["ev"] == "link"][-1]
    assert proxy.accepts[mode] >= 2 and stats["stats"]["connects"] >= 1
    # Most of the run went by inside the link's waits (connect, or a packet never finished).
    assert stats["idle_ticks"] * TICK_S > 0.5 * 300, stats
    print("\n%s broker: trips %s s after the faults (no broker: %s), %d %s connections "
          "before the live one, %d idle ticks" % (mode, got, want, proxy.accepts[mode], mode,
                                                  stats["idle_ticks"]))


def hostile_scenario(start_epoch):
    ev = [plug(1, 0), start(2, 0, {"full": True}), plug(1, 1), start(2, 1, {"minutes": 60}),
          {"t": 20, "port": 1, "fault": "short"}]
    return scenario(ev, ports=4, duration_s=600, config={"boot_hold_s": 0},
                    start_epoch=start_epoch)


def test_hostile_commands_over_mqtt(broker, tmp_path):
    now0 = int(time.time())
    srv = Server(broker.port)
    sim = SimProc(hostile_scenario(now0), broker.port, str(tmp_path), speed=1)
    try:
        sim.wait(lambda e: e["ev"] == "port" and e["port"] == 1 and e["state"] == "locked",
                 40, "port 1 locked")
        srv.wait("status", lambda o: o["online"], 10)
        time.sleep(0.5)
        srv.drain()  # the scenario's own replies
        marks = len(sim.poll())
        cases = []

        def expect(payload, code, jti=None):
            srv.publish(payload)
            r = srv.wait("reply", timeout=15)
            cases.append((code, r))
            assert r == {"jti": jti, "ok": False, "error": code}, (code, r)

        def claims(c, ttl=120, **kw):
            base = {"jti": "h-%d" % len(cases), "exp": int(time.time()) + ttl}
            base.update(c)
            base.update(kw)
            return base

        import jwt
        c = claims({"op": "estop"})
        expect(jwt.encode(c, b"not the cabinet key", "HS256").encode(), "bad_signature")
        c = claims({"op": "estop"}, ttl=-30)
        expect(jwt.encode(c, KEY, "HS256").encode(), "expired", c["jti"])
        c = claims({"op": "status"})
        tok = jwt.encode(c, KEY, "HS256").encode()
        srv.publish(tok)
        assert srv.wait("reply", timeout=15) == {"jti": c["jti"], "ok": True}
        expect(tok, "replayed", c["jti"])
        for bad, code in [({"op": "self_destruct"}, "unknown_op"),
                          ({"op": "start", "port": "2", "limit": {"full": True}}, "bad_args"),
                          ({"op": "start", "port": 2, "limit": {"minutes": "5"}}, "bad_args"),
                          ({"op": "start", "port": 2.0, "limit": {"full": True}}, "bad_args"),
                          ({"op": "start", "port": 4, "limit": {"full": True}}, "bad_args"),
                          ({"op": "start", "port": -1, "limit": {"full": True}}, "bad_args"),
                          ({"op": "stop", "port": 99}, "bad_args"),
                          ({"op": "unlock", "port": None}, "bad_args"),
                          ({"op": "start", "port": 0, "limit": {"full": True}}, "port_busy"),
                          ({"op": "start", "port": 1, "limit": {"wh": 50}}, "port_locked"),
                          ({"op": "config", "config": {"port_limit_a": "high"}}, "bad_args"),
                          ({"op": "cards", "add": ["not hex"]}, "bad_args"),
                          ({"op": "time", "now": -1}, "bad_args")]:
            c = claims(bad)
            expect(jwt.encode(c, KEY, "HS256").encode(), code, c["jti"])
        expect(b"\x00" * 1024 * 1024, "too_large")  # 1 MB
        expect(os.urandom(700), "bad_token")
        expect(b"", "bad_token")
        expect(b"eyJhbGciOiJub25lIn0.eyJvcCI6ImVzdG9wIn0.", "bad_token")  # alg none
        after = sim.poll()[marks:]
        changed = [e for e in after if e["ev"] in ("relay", "port", "session_start",
                                                   "session_end", "alarm", "reboot")]
        assert not changed, changed
        assert not sim.of("uplink", up=False), "a hostile message dropped the link"
        # Still running and answering: a valid command is served as before.
        c = claims({"op": "stop", "port": 0})
        srv.publish(jwt.encode(c, KEY, "HS256").encode())
        assert srv.wait("reply", timeout=15) == {"jti": c["jti"], "ok": True}
        sim.wait(lambda e: e["ev"] == "session_end" and e["port"] == 0, 10, "the stop")
        assert sim.alive()
    finally:
        sim.close()
        srv.close()
    assert not srv.bad, srv.bad[:3]
    print("\n%d hostile commands over MQTT, each with its code: %s"
          % (len(cases), sorted(set(code for code, _ in cases))))


def test_qr_remote_start_signed_by_the_server_with_pyjwt(broker, tmp_path):
    now0 = int(time.time())
    srv = Server(broker.port)
    sim = SimProc(scenario([plug(1, 3, LITHIUM, 0.4)], ports=10, duration_s=600,
                           config={"boot_hold_s": 0, "telemetry_s": 10}, start_epoch=now0),
                  broker.port, str(tmp_path), speed=1)
    try:
        srv.wait("status", lambda o: o["online"], 15)
        time.sleep(0.3)
        # What the operator's server does when a resident scans port 4's QR code and pays.
        jti = srv.command({"op": "start", "port": 3, "limit": {"fen": 300},
                           "order": "qr-20251127-0001", "iat": int(time.time())})
        assert srv.wait("reply") == {"jti": jti, "ok": True}
        rec = srv.wait("event", lambda o: o["ev"] == "session_start")
        assert rec["port"] == 3 and rec["auth"] == "remote" and rec["limit"] == {"fen": 300}
        assert rec["order"] == "qr-20251127-0001"
        sim.wait(lambda e: e["ev"] == "relay" and e["port"] == 3 and e["on"], 15, "relay on")
        tm = srv.wait("telemetry", lambda o: any(p["p"] == 3 and p["s"] == "charging"
                                                 for p in o["ports"]), 20)
        assert [p for p in tm["ports"] if p["p"] == 3][0]["w"] > 20
    finally:
        sim.close()
        srv.close()
    assert not srv.bad, srv.bad[:3]
    # The staff monitor reads the same messages: port 4 (1-based there) charging.
    import json
    m = Model()
    for _, kind, obj, _ in srv.msgs:
        m.handle("ebike/sim-001/" + kind, json.dumps(obj))
    cab = m.cabinets["ebike/sim-001"]
    assert cab.nports == 10 and cab.online is False  # the will, once the sim was killed
    assert cab.ports[3].state == "charging" and cab.ports[3].sid == rec["sid"]


@pytest.mark.skipif(not FULL, reason="FULL=1 only: a simulated 24 h day, about a minute")
def test_data_budget_of_a_busy_day():
    spec = importlib.util.spec_from_file_location(
        "bench_mqtt", os.path.join(ROOT, "tools", "bench", "bench_mqtt.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    events, wall = bench.measure()
    fig = {name: value for name, value, _ in bench.figures(events, wall)}
    for e in events:
        if e["ev"] == "mqtt":
            check_mqtt(e["topic"], e["payload"])
    assert fig["mqtt_sessions_per_day"] == 30 and fig["mqtt_connects_per_day"] == 1
    assert fig["mqtt_bytes_per_day"] <= 300000, fig
    print("\n%d MQTT bytes a day (telemetry %d messages)"
          % (fig["mqtt_bytes_per_day"], fig["mqtt_telemetry_msgs_per_day"]))
