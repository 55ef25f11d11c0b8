"""tools/monitor: the MQTT-to-model logic (ports, alarms, the event feed), the Textual UI
headless against a real mosquitto with a fake cabinet (paho), its layout at 80x24 and on a
wide terminal, and the webhook forwarder against a local HTTP server.

The UI must show an overcurrent alarm within ALARM_SHOW_S of its publish: measured from
just before the fake cabinet's QoS 1 publish to the moment the alarm's text is in the
rendered screen (export_screenshot), so it includes broker, paho, model and drawing.
"""

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from mqttkit import free_port

from tools.monitor.model import Model, parse_site, subscriptions
from tools.monitor.webhook import Forwarder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALARM_SHOW_S = 2.0


def msg(model, topic, obj):
    return model.handle(topic, obj if isinstance(obj, bytes) else json.dumps(obj).encode())


def alarm(i, code="overcurrent", port=3, level="critical", state="raised", **kw):
    return dict({"id": "cab-1-a%d" % i, "code": code, "port": port, "level": level,
                 "state": state, "value": 7.9, "t": 1764201600 + i}, **kw)


# ------------------------------------------------------------------ model
def test_status_birth_will_and_retired_cabinet():
    m = Model()
    msg(m, "ebike/cab-1/status", {"online": True, "fw": "0.3", "ports": 4})
    c = m.cabinets["ebike/cab-1"]
    assert (c.online, c.fw, len(c.port_list())) == (True, "0.3", 4)
    msg(m, "ebike/cab-1/status", {"online": False})  # the last will
    assert c.online is False and c.fw == "0.3"
    m.handle("ebike/cab-1/status", b"")  # retained status cleared
    assert m.cabinets == {}


def test_telemetry_updates_ports_and_keeps_missing_fields():
    m = Model()
    msg(m, "ebike/cab-1/telemetry", {"ports": [
        {"p": 0, "s": "charging", "w": 180, "wh": 12.3, "fen": 5, "el": 600},
        {"p": 1, "s": "idle", "w": 0}]})
    c = m.cabinets["ebike/cab-1"]
    assert c.online is True  # telemetry flowing means the cabinet is up
    p0 = c.ports[0]
    assert (p0.state, p0.w, p0.wh, p0.fen, p0.el) == ("charging", 180, 12.3, 5, 600)
    msg(m, "ebike/cab-1/telemetry", {"ports": [{"p": 0, "w": 175}]})
    assert (p0.state, p0.w, p0.wh) == ("charging", 175, 12.3)


def test_session_events_set_and_clear_the_session():
    m = Model(wall=lambda: 1764201600 + 90)
    msg(m, "ebike/cab-1/event", {"ev": "session_start", "sid": "s1", "port": 2,
                                  "start": 1764201600, "auth": "card:04A1B2C3"})
    p = m.cabinets["ebike/cab-1"].ports[2]
    assert (p.sid, p.auth, p.elapsed(m.wall())) == ("s1", "card:04A1B2C3", 90)
    msg(m, "ebike/cab-1/event", {"ev": "session_end", "sid": "s1", "port": 2, "reason": "full",
                                  "wh": 512.3, "fen": 150})
    assert p.sid is None and p.last_end == ("full", 512.3, 150)


def test_an_ended_session_shows_its_session_end_totals():
    # The demo day's port 4 (wire 3): the last telemetry of its session said 194.7 Wh and
    # 25 fen; the session ended at its 200 Wh limit two minutes later, billed 26 fen.
    m = Model()
    msg(m, "ebike/sim-001/event", {"ev": "session_start", "id": "sim-001-1-4:s",
                                    "sid": "sim-001-1-4", "port": 3, "start": 1764202210,
                                    "auth": "remote", "limit": {"wh": 200}, "order": None})
    msg(m, "ebike/sim-001/telemetry", {"t": 1764206090, "ports": [
        {"p": 3, "s": "charging", "w": 182, "wh": 194.7, "fen": 25, "el": 3880}]})
    p = m.cabinets["ebike/sim-001"].ports[3]
    assert (p.wh, p.fen) == (194.7, 25)
    msg(m, "ebike/sim-001/event", {
        "ev": "session_end", "id": "sim-001-1-4:e", "sid": "sim-001-1-4", "port": 3,
        "start": 1764202210, "end": 1764206209, "charge_s": 3999, "wh": 200.0, "fen": 26,
        "reason": "energy_limit", "peak_w": 185, "auth": "remote", "order": None,
        "limit": {"wh": 200}})
    assert (p.sid, p.wh, p.fen, p.last_end) == (None, 200.0, 26, ("energy_limit", 200.0, 26))
    # the firmware's telemetry of an ended port lists its state and power only
    msg(m, "ebike/sim-001/telemetry", {"t": 1764206210, "ports": [{"p": 3, "s": "ended", "w": 0}]})
    msg(m, "ebike/sim-001/telemetry", {"t": 1764206330, "ports": [{"p": 3, "s": "idle", "w": 0}],
                                       "full": True})
    assert (p.state, p.wh, p.fen) == ("idle", 200.0, 26)
    # an old session's end redelivered while a new session runs leaves the new one's figures
    msg(m, "ebike/sim-001/event", {"ev": "session_start", "sid": "sim-001-1-8", "port": 3,
                                    "start": 1764207000, "auth": "remote"})
    assert (p.wh, p.fen) == (None, None)
    msg(m, "ebike/sim-001/telemetry", {"ports": [{"p": 3, "s": "charging", "wh": 3.1, "fen": 1}]})
    msg(m, "ebike/sim-001/event", {"ev": "session_end", "sid": "sim-001-1-4", "port": 3,
                                    "reason": "energy_limit", "wh": 200.0, "fen": 26})
    assert (p.sid, p.wh, p.fen) == ("sim-001-1-8", 3.1, 1)


def test_alarm_feed_newest_first_deduplicated_and_cleared():
    m = Model()
    a1 = msg(m, "ebike/cab-1/alarm", alarm(1, code="meter_silent", level="warning"))
    a2 = msg(m, "ebike/cab-1/alarm", alarm(2))
    assert msg(m, "ebike/cab-1/alarm", alarm(1, code="meter_silent")) is None  # redelivery
    assert [a.id for a in m.alarms] == ["cab-1-a2", "cab-1-a1"]
    assert a2.critical and not a1.critical and a2.port == 3 and a2.where() == "port 4"
    assert m.active_alarms("ebike/cab-1") == [a2, a1]
    a3 = msg(m, "ebike/cab-1/alarm", alarm(3, state="cleared"))
    # the clear ends a2's row (same code and port) and adds none of its own
    assert a3.state == "cleared" and a3 not in m.alarms
    assert m.alarms == [a2, a1] and a2.cleared and a2.cleared_t == a3.t and not a1.cleared
    assert m.active_alarms("ebike/cab-1") == [a1]
    assert msg(m, "ebike/cab-1/alarm", alarm(3, state="cleared")) is None  # redelivery
    assert m.alarms == [a2, a1]
    # the same id on another cabinet is another alarm
    assert msg(m, "ebike/cab-2/alarm", alarm(1)) is not None
    # `epoch` stands in for `t` (the firmware's event log spelling)
    a = msg(m, "ebike/cab-2/alarm", {"id": "x", "code": "smoke", "port": None,
                                      "level": "critical", "state": "raised", "epoch": 5})
    assert a.t == 5 and a.where() == "cabinet"


# The firmware's own records of the demo day's port 6 (wire 5): a heater trips overcurrent
# at 09:06:50 and locks the port; staff unlock it at 09:10:00, which clears both alarms
# (firmware/core/app.py unlock). Each alarm is raised once and cleared once, each record with an
# id of its own; an alarm is matched by code and port (PROTOCOL.md: id is the record's).
DAY_ALARMS = [
    {"id": "sim-001-1-a1", "t": 1764205610, "state": "raised", "level": "critical", "port": 5,
     "code": "overcurrent", "value": 6.83},
    {"id": "sim-001-1-a2", "t": 1764205610, "state": "raised", "level": "warning", "port": 5,
     "code": "port_locked", "value": "overcurrent"},
    {"id": "sim-001-1-a3", "t": 1764205800, "state": "cleared", "level": "critical", "port": 5,
     "code": "overcurrent", "value": None},
    {"id": "sim-001-1-a4", "t": 1764205800, "state": "cleared", "level": "warning", "port": 5,
     "code": "port_locked", "value": None},
    {"id": "sim-001-1-a5", "t": 1764207012, "state": "raised", "level": "critical", "port": 4,
     "code": "overpower", "value": 1061},
    {"id": "sim-001-1-a6", "t": 1764207012, "state": "raised", "level": "warning", "port": 4,
     "code": "port_locked", "value": "overpower"},
]


def test_a_cleared_alarm_is_one_row_and_one_unacknowledged_critical():
    m = Model()
    got = [msg(m, "ebike/sim-001/alarm", r) for r in DAY_ALARMS]
    assert all(a is not None for a in got)  # every record is news (the webhook gets clears)
    rows = [(a.id, a.code, a.port, a.state, a.cleared, a.cleared_t) for a in m.alarms]
    assert rows == [
        ("sim-001-1-a6", "port_locked", 4, "raised", False, None),
        ("sim-001-1-a5", "overpower", 4, "raised", False, None),
        ("sim-001-1-a2", "port_locked", 5, "raised", True, 1764205800),
        ("sim-001-1-a1", "overcurrent", 5, "raised", True, 1764205800)]
    # port 6's overcurrent ended but still wants an acknowledgement, counted once
    assert [a.id for a in m.unacked_critical()] == ["sim-001-1-a5", "sim-001-1-a1"]
    assert [a.id for a in m.active_alarms("ebike/sim-001")] == ["sim-001-1-a6", "sim-001-1-a5"]
    for r in DAY_ALARMS:  # at-least-once: the whole outbox again changes nothing
        assert msg(m, "ebike/sim-001/alarm", r) is None
    assert len(m.alarms) == 4 and len(m.unacked_critical()) == 2
    assert m.ack(m.alarms[3].key).id == "sim-001-1-a1"
    assert [a.id for a in m.unacked_critical()] == ["sim-001-1-a5"]


def test_a_clear_without_its_raise_is_shown_but_is_no_unacknowledged_critical():
    m = Model()
    a = msg(m, "ebike/sim-001/alarm", DAY_ALARMS[2])  # raised before the monitor listened
    assert m.alarms == [a] and a.state == "cleared" and not a.cleared
    assert m.unacked_critical() == [] and m.active_alarms("ebike/sim-001") == []
    # a later raise of the same code and port is a new alarm, its clear folds into it
    r = msg(m, "ebike/sim-001/alarm", dict(DAY_ALARMS[0], id="sim-001-1-a9", t=1764209000))
    assert m.unacked_critical() == [r]
    msg(m, "ebike/sim-001/alarm", dict(DAY_ALARMS[2], id="sim-001-1-a10", t=1764209100))
    assert m.alarms == [r, a] and r.cleared and r.cleared_t == 1764209100


def test_one_clear_ends_an_alarm_raised_again_at_another_level():
    # firmware/core/protection.py: cabinet_overtemp raised as a warning, then as critical (same
    # code, no clear between), then one clear of the alarm
    m = Model()
    w = msg(m, "ebike/c/alarm", alarm(1, code="cabinet_overtemp", port=None, level="warning"))
    c = msg(m, "ebike/c/alarm", alarm(2, code="cabinet_overtemp", port=None))
    msg(m, "ebike/c/alarm", alarm(3, code="cabinet_overtemp", port=None, state="cleared"))
    assert m.alarms == [c, w] and w.cleared and c.cleared
    assert m.active_alarms("ebike/c") == [] and m.unacked_critical() == [c]


@pytest.fixture(scope="module")
def day_records():
    """The firmware's own records (session_start, session_end, alarm) of the demo day
    (tools/sim/scenarios/demo_day.json) to 01:20, run once on the MicroPython unix port."""
    from mpy import MICROPYTHON
    from simrun import run_scenario

    assert os.path.exists(MICROPYTHON), "no MicroPython unix port at %s: run `make setup`" % (
        MICROPYTHON,)
    with open(os.path.join(ROOT, "tools", "sim", "scenarios", "demo_day.json")) as f:
        sc = json.load(f)
    sc["duration_s"] = 4800  # past port 6's trip and unlock, and port 4's energy limit
    sc["events"] = [e for e in sc["events"] if e["t"] < sc["duration_s"]]
    events, _ = run_scenario(sc, timeout_s=300)
    return [e for e in events if e["ev"] == "record"]


def feed(m, records, cabinet="sim-001"):
    for r in records:
        kind = "alarm" if r["kind"] == "alarm" else "event"
        m.handle("ebike/%s/%s" % (cabinet, kind), json.dumps(r["payload"]))


def test_model_on_the_firmwares_own_records_of_the_demo_day(day_records):
    """The demo day to 01:20 on the MicroPython unix port: every alarm is raised once and
    cleared at most once, and the monitor shows one row per alarm, one unacknowledged
    critical per critical alarm, and the ended sessions' session_end totals."""
    records = day_records
    alarms = [r["payload"] for r in records if r["kind"] == "alarm"]
    states = {}
    for a in alarms:  # the firmware: raised, cleared, raised, ... per (code, port)
        states.setdefault((a["code"], a["port"]), []).append(a["state"])
    assert states == {("overcurrent", 5): ["raised", "cleared"],
                      ("port_locked", 5): ["raised", "cleared"]}
    assert len({a["id"] for a in alarms}) == len(alarms)
    m = Model()
    m.handle("ebike/sim-001/status", json.dumps({"online": True, "ports": 10}))
    feed(m, records)
    assert [(a.code, a.state, a.cleared) for a in m.alarms] == [
        ("port_locked", "raised", True), ("overcurrent", "raised", True)]
    assert [a.code for a in m.unacked_critical()] == ["overcurrent"]
    ports = m.cabinets["ebike/sim-001"].ports
    end = [r["payload"] for r in records if r["kind"] == "session_end" and
           r["payload"]["port"] == 3][0]
    assert (end["wh"], end["fen"], end["reason"]) == (200.0, 26, "energy_limit")
    assert (ports[3].wh, ports[3].fen) == (200.0, 26)
    assert (ports[5].wh, ports[5].fen, ports[5].last_end) == (0.0, 0, ("overcurrent", 0.0, 0))


# What the event feed says of the demo day to 01:20 (firmware records, oldest first): the
# card start on port 1, the QR order on port 2, remote starts with their limits, the
# heater's overcurrent trip on port 6 the moment it started, port 4's energy limit.
DAY_EVENTS = [
    ("session_start", 0, 1764201674, "port 1 started (card, full)"),
    ("session_start", 1, 1764201730, "port 2 started (remote, 240 min, order QR-1001)"),
    ("session_start", 2, 1764201910, "port 3 started (remote, full)"),
    ("session_start", 3, 1764202210, "port 4 started (remote, 200 Wh)"),
    ("session_start", 4, 1764205210, "port 5 started (remote, full)"),
    ("session_start", 5, 1764205610, "port 6 started (remote, 60 min)"),
    ("session_end", 5, 1764205610, "port 6 ended: overcurrent, 0.0 Wh, 0 fen, 0:00:00"),
    ("session_end", 3, 1764206209, "port 4 ended: energy_limit, 200.0 Wh, 26 fen, 1:06:39"),
]


def test_event_feed_on_the_firmwares_own_records(day_records):
    """Every session_start and session_end record of the day is one row of the event feed,
    newest first, stamped with the record's own start or end; the whole outbox delivered
    again (QoS 1 redelivery: the same record ids) adds no row and changes no port."""
    m = Model()
    feed(m, day_records)
    assert [(e.kind, e.port, e.t, e.text) for e in reversed(m.events)] == DAY_EVENTS
    assert [e.cabinet for e in m.events] == ["sim-001"] * len(DAY_EVENTS)
    assert m.events[1].reason == "overcurrent" and m.events[0].reason == "energy_limit"
    ports = m.cabinets["ebike/sim-001"].ports
    before = [(p.sid, p.start, p.wh, p.fen, p.last_end) for p in ports.values()]
    feed(m, day_records)
    assert len(m.events) == len(DAY_EVENTS)
    assert [(p.sid, p.start, p.wh, p.fen, p.last_end) for p in ports.values()] == before
    # port 4's start redelivered after its end does not reopen the session
    start4 = [r for r in day_records if r["kind"] == "session_start"
              and r["payload"]["port"] == 3][0]
    msg(m, "ebike/sim-001/event", start4["payload"])
    assert ports[3].sid is None and (ports[3].wh, ports[3].fen) == (200.0, 26)
    # the same record ids from another cabinet are other records
    feed(m, day_records[:1], cabinet="sim-002")
    assert (m.events[0].cabinet, m.events[0].text) == ("sim-002", DAY_EVENTS[0][3])


BIRTH = {"online": True, "fw": "cabinet-fw 0.6.0", "ports": 10, "rssi": None, "boot": 1,
         "cabinet": "sim-001", "cards": 2}  # the firmware's status (docs/protocol.md)
WILL = {"online": False}


def test_status_changes_are_events_stamped_with_the_cabinets_clock():
    wall = [1800000000.0]  # the monitor's clock: far from the simulated cabinet's
    m = Model(wall=lambda: wall[0])
    msg(m, "ebike/sim-001/status", BIRTH)  # retained: first sight of the cabinet
    msg(m, "ebike/sim-001/status", BIRTH)  # a `status` command, or the retained one again
    assert [(e.kind, e.text) for e in m.events] == [("online", "online (fw cabinet-fw 0.6.0)")]
    assert m.events[0].t is None  # stamped by the next telemetry, the birth has no time
    msg(m, "ebike/sim-001/telemetry", {"t": 1764201600, "ports": [], "full": True})
    assert m.events[0].t == 1764201600
    msg(m, "ebike/sim-001/telemetry", {"t": 1764216000, "ports": []})
    wall[0] += 20  # the broker outage: the will, 20 s after the last telemetry
    msg(m, "ebike/sim-001/status", WILL)
    assert (m.events[0].kind, m.events[0].text, m.events[0].t) == (
        "offline", "offline", 1764216020)
    msg(m, "ebike/sim-001/status", WILL)  # retained again (a reconnect of the monitor)
    msg(m, "ebike/sim-001/status", BIRTH)  # back: the same boot
    assert [e.text for e in m.events[:2]] == ["online", "offline"]
    assert m.events[0].t is None
    # the outbox's backlog arrives before the first telemetry: it keeps its own time
    msg(m, "ebike/sim-001/event", {"ev": "session_end", "id": "sim-001-1-2:e",
                                    "sid": "sim-001-1-2", "port": 1, "start": 1764201730,
                                    "end": 1764216131, "charge_s": 14400, "wh": 613.3,
                                    "fen": 80, "reason": "time_limit"})
    msg(m, "ebike/sim-001/telemetry", {"t": 1764217801, "ports": [], "full": True})
    assert [(e.text, e.t) for e in m.events[:2]] == [
        ("port 2 ended: time_limit, 613.3 Wh, 80 fen, 4:00:00", 1764216131),
        ("online", 1764217801)]
    # a power cut: the will, then a birth with the next boot number
    msg(m, "ebike/sim-001/status", WILL)
    msg(m, "ebike/sim-001/status", dict(BIRTH, boot=2))
    assert [e.text for e in m.events[:2]] == ["online (restarted: boot 2)", "offline"]
    m.handle("ebike/sim-001/status", b"")  # the retained status cleared: retired
    assert (m.events[0].kind, m.events[0].cabinet) == ("retired", "sim-001")
    assert m.cabinets == {}
    assert [e.kind for e in m.events].count("online") == 3


def test_link_events_view_filter_and_bound():
    m = Model(max_events=3)
    assert m.link_event("connecting") is not None
    assert m.link_event("connecting") is None  # no change, no row
    m.link_event("connected")
    assert [(e.cabinet, e.who(), e.text) for e in m.events] == [
        (None, "monitor", "broker connected"), (None, "monitor", "broker connecting")]
    msg(m, "ebike/garden-1/event", {"ev": "session_start", "id": "g-1:s", "sid": "g-1",
                                     "port": 0, "start": 1764201600, "auth": "remote"})
    m.set_view("tower-*")  # the monitor's own rows stay in view
    assert [e.who() for e in m.visible_events()] == ["monitor", "monitor"]
    m.set_view("*")
    assert len(m.visible_events()) == 3
    msg(m, "ebike/garden-1/event", {"ev": "session_end", "id": "g-1:e", "sid": "g-1",
                                     "port": 0, "start": 1764201600, "end": 1764205200,
                                     "wh": 180.0, "fen": 23, "reason": "full"})
    assert len(m.events) == 3 and m.events[-1].text == "broker connected"
    for _ in range(3):
        m.link_event("disconnected (x), retrying")
        m.link_event("connected")
    # the bound forgets the ids of dropped rows: a record that old is news again
    assert all(e.kind == "link" for e in m.events) and m._event_keys == set()
    msg(m, "ebike/garden-1/event", {"ev": "session_start", "id": "g-1:s", "sid": "g-1",
                                     "port": 0, "start": 1764201600, "auth": "card:04A1B2C3"})
    assert m.events[0].text == "port 1 started (card)"


def test_bounded_feed_forgets_the_clear_keys_of_dropped_rows():
    m = Model(max_alarms=2)
    a1 = msg(m, "ebike/c/alarm", alarm(1))
    msg(m, "ebike/c/alarm", alarm(2, state="cleared"))
    assert a1.cleared and set(m._by_key) == {a1.key, "ebike/c#cab-1-a2"}
    msg(m, "ebike/c/alarm", alarm(3, code="smoke"))
    msg(m, "ebike/c/alarm", alarm(4, code="smoke", port=None))
    assert a1 not in m.alarms and len(m._by_key) == 2


def test_alarm_feed_is_bounded():
    m = Model(max_alarms=5)
    for i in range(12):
        msg(m, "ebike/cab-1/alarm", alarm(i))
    assert [a.id for a in m.alarms] == ["cab-1-a%d" % i for i in range(11, 6, -1)]
    assert msg(m, "ebike/cab-1/alarm", alarm(0)) is not None  # forgotten ids are new again


def test_ack_one_and_all_shown():
    m = Model()
    a1 = msg(m, "ebike/cab-1/alarm", alarm(1))
    a2 = msg(m, "ebike/garden-2/alarm", alarm(2))
    assert m.unacked_critical() == [a2, a1]
    assert m.ack(a1.key) is a1 and a1.acked and m.ack("nope") is None
    assert m.unacked_critical() == [a2]
    m.set_view("cab-*")
    assert m.ack_all() == [] and not a2.acked  # only shown alarms
    m.set_view("*")
    assert m.ack_all() == [a2] and m.unacked_critical() == []


def test_site_scope_and_view_filter():
    assert parse_site("ebike/garden-*") == ("ebike", "garden-*")
    assert parse_site("garden-*") == ("ebike", "garden-*")
    assert parse_site("*/garden-*") == ("*", "garden-*")
    with pytest.raises(ValueError, match="--site"):
        parse_site("ebike/")
    assert subscriptions("ebike") == ["ebike/+/status", "ebike/+/telemetry", "ebike/+/event",
                                      "ebike/+/alarm"]
    assert subscriptions("*")[0] == "+/+/status"
    m = Model("ebike", "garden-*")
    msg(m, "ebike/garden-1/status", {"online": True, "ports": 2})
    msg(m, "ebike/tower-1/status", {"online": True, "ports": 2})  # out of scope: dropped
    msg(m, "other/garden-2/status", {"online": True, "ports": 2})
    assert msg(m, "ebike/tower-1/alarm", alarm(1)) is None
    assert sorted(m.cabinets) == ["ebike/garden-1"]
    msg(m, "ebike/garden-22/status", {"online": True})
    m.set_view("garden-2?")
    assert [c.id for c in m.visible_cabinets()] == ["garden-22"]


def test_bad_messages_are_counted_not_raised():
    m = Model()
    for topic, payload in [("ebike/c/status", b"{"), ("ebike/c/status", b"[1]"),
                           ("ebike/c/status", b'{"online": "yes"}'),
                           ("ebike/c/telemetry", b'{"ports": [{"s": "idle"}]}'),
                           ("ebike/c/alarm", b'{"code": "smoke"}'),
                           ("ebike/c/event", b'{"ev": "session_start"}'),
                           ("ebike/c/status", b"\xff\xfe")]:
        assert m.handle(topic, payload) is None
    assert len(m.bad) == 7
    assert m.handle("ebike/c/other", b"{}") is None and m.handle("a/b/c/status", b"{}") is None


# ------------------------------------------------------------ HTTP fixtures (broker: conftest)
class Hook:
    """A local webhook receiver: answers `codes` in turn (then 200), records the bodies."""

    def __init__(self, codes=(), delay_s=0.0):
        self.codes, self.delay_s, self.bodies = list(codes), delay_s, []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay_s)
                hook.bodies.append(json.loads(body))
                code = hook.codes.pop(0) if hook.codes else 200
                out = b'{"errcode": 0}' if code == 200 else b"busy"
                self.send_response(code)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/robot/send?key=t" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory():
    made = []

    def make(*a, **kw):
        made.append(Hook(*a, **kw))
        return made[-1]
    yield make
    for h in made:
        h.close()


def wait_for(cond, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ------------------------------------------------------------------ webhook
def _alarm_dict(i, **kw):
    return dict({"root": "ebike/cab-1", "cabinet": "cab-1"}, **alarm(i, **kw))


def test_webhook_retries_after_a_failure_and_deduplicates(hook_factory):
    hook = hook_factory(codes=[500])
    fw = Forwarder(hook.url, backoff_s=0.05)
    try:
        assert fw.submit(_alarm_dict(1)) is True
        assert fw.submit(_alarm_dict(1)) is False  # duplicate while queued
        assert wait_for(lambda: fw.sent == 1)
        assert fw.submit(_alarm_dict(1)) is False  # duplicate after delivery
        assert fw.submit(_alarm_dict(2)) is True
        assert wait_for(lambda: fw.sent == 2)
        time.sleep(0.2)
        ids = [b["alarm"]["id"] for b in hook.bodies]
        assert ids == ["cab-1-a1", "cab-1-a1", "cab-1-a2"]  # one failed try, one retry, one
        assert fw.stats()["retries"] == 1 and fw.failed == 0 and fw.duplicates == 2
        assert "CRITICAL" in hook.bodies[0]["text"]["content"]
        assert hook.bodies[0]["msgtype"] == "text"
    finally:
        fw.close()


def test_webhook_gives_up_after_bounded_retries(hook_factory):
    hook = hook_factory(codes=[503] * 10)
    fw = Forwarder(hook.url, attempts=3, backoff_s=0.02)
    try:
        fw.submit(_alarm_dict(1))
        assert wait_for(lambda: fw.failed == 1)
        assert len(hook.bodies) == 3 and fw.sent == 0
        assert fw.submit(_alarm_dict(1)) is True  # a failed alarm may be tried again
    finally:
        fw.close()


def test_webhook_submit_never_blocks(hook_factory):
    hook = hook_factory(delay_s=0.5)
    fw = Forwarder(hook.url)
    try:
        for i in range(20):
            assert fw.submit(_alarm_dict(i)) is True
        # All 20 returned while the receiver still held the first request (it answers
        # after 0.5 s): submit only queues. No wall-clock bound on the loop itself.
        assert fw.sent <= 1 and len(hook.bodies) <= 1, (fw.sent, len(hook.bodies))
    finally:
        fw.close(timeout_s=0.1)
    with pytest.raises(ValueError, match="--webhook"):
        Forwarder("ftp://x")


# ------------------------------------------------------------------ UI, headless, real broker
def _cabinet(port, cid="cab-7"):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    c.will_set("ebike/%s/status" % cid, b'{"online": false}', qos=1, retain=True)
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    return c


def test_ui_shows_alarm_within_2s_and_forwards_it(broker, hook_factory):
    from tools.monitor.app import MonitorApp

    hook = hook_factory()
    cab = _cabinet(broker.port)
    cab.publish("ebike/cab-7/status", json.dumps({"online": True, "fw": "0.3", "ports": 4}),
                qos=1, retain=True).wait_for_publish(5)
    model = Model("ebike", "*")
    app = MonitorApp(model, ("127.0.0.1", broker.port), forwarder=Forwarder(hook.url))
    result = {}

    async def until(cond, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    async def scenario():
        async with app.run_test(size=(150, 40)) as pilot:
            # The retained birth arrives once the monitor is subscribed.
            await until(lambda: model.cabinets.get("ebike/cab-7") is not None)
            assert model.cabinets["ebike/cab-7"].online is True
            cab.publish("ebike/cab-7/telemetry", json.dumps({"ports": [
                {"p": 0, "s": "charging", "w": 180, "wh": 12.3, "fen": 5, "el": 600},
                {"p": 3, "s": "charging", "w": 1650, "wh": 40.1, "fen": 17, "el": 1200}]}))
            await until(lambda: 0 in model.cabinets["ebike/cab-7"].ports)
            await until(lambda: "charging" in app.export_screenshot())  # bounded: 5 s
            t0 = time.monotonic()
            cab.publish("ebike/cab-7/alarm", json.dumps(
                {"id": "cab-7-1-a1", "code": "overcurrent", "port": 3, "level": "critical",
                 "state": "raised", "value": 7.9, "t": int(time.time())}), qos=1)
            while "overcurrent" not in app.export_screenshot():
                assert time.monotonic() - t0 < 5, "alarm never shown"
                await asyncio.sleep(0.02)
            result["latency_s"] = time.monotonic() - t0
            shot = app.export_screenshot()
            assert "UNACKNOWLEDGED" in shot and "critical" in shot
            # acknowledge it from the keyboard: the row is marked and dimmed
            await pilot.press("a")
            await pilot.pause(0.1)
            assert model.alarms[0].acked and "UNACKNOWLEDGED" not in app.export_screenshot()
            # the fake cabinet dies without DISCONNECT: the broker publishes its will
            cab.loop_stop()
            cab.socket().close()
            await until(lambda: model.cabinets["ebike/cab-7"].online is False, 10)
            t1 = time.monotonic()
            while "OFFLINE" not in app.export_screenshot():
                assert time.monotonic() - t1 < ALARM_SHOW_S, "offline never shown"
                await asyncio.sleep(0.02)
            # filter the view to another site: the cabinet and its alarm disappear
            await pilot.press("f", *"garden-*", "enter")
            await pilot.pause(0.1)
            assert model.view_glob == "garden-*" and "cab-7" not in app.export_screenshot()
            await until(lambda: app.forwarder.sent == 1)

    asyncio.run(scenario())
    print("alarm display latency: %.0f ms" % (result["latency_s"] * 1000))
    assert result["latency_s"] < ALARM_SHOW_S
    assert [b["alarm"]["code"] for b in hook.bodies] == ["overcurrent"]


# The firmware's records of port 4's session in the demo day (wire port 3), as published.
START4 = {"limit": {"wh": 200}, "id": "sim-001-1-4:s", "auth": "remote", "sid": "sim-001-1-4",
          "order": None, "port": 3, "ev": "session_start", "start": 1764202210}
END4 = {"order": None, "charge_s": 3999, "ev": "session_end", "auth": "remote", "port": 3,
        "reason": "energy_limit", "fen": 26, "sid": "sim-001-1-4", "end": 1764206209,
        "peak_w": 185, "wh": 200.0, "limit": {"wh": 200}, "id": "sim-001-1-4:e",
        "start": 1764202210}


def _hms_local(t):
    return time.strftime("%H:%M:%S", time.localtime(t))


def _screen_text(app):
    return app.export_screenshot().replace("&#160;", " ")


def test_ui_event_pane_shows_sessions_started_and_ended(broker):
    """Through the broker: the birth, port 4's session_start and its session_end (twice: a
    QoS 1 redelivery) are rows of the events pane, newest first, in local time."""
    from tools.monitor.app import MonitorApp

    cab = _cabinet(broker.port, "sim-001")
    cab.publish("ebike/sim-001/status", json.dumps(BIRTH), qos=1, retain=True).wait_for_publish(5)
    model = Model("ebike", "*")
    app = MonitorApp(model, ("127.0.0.1", broker.port))

    async def until(cond, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, ("timed out", [e.text for e in model.events],
                                                 _screen_text(app)[-4000:])
            await asyncio.sleep(0.01)

    started = "port 4 started (remote, 200 Wh)"
    ended = "port 4 ended: energy_limit, 200.0 Wh, 26 fen, 1:06:39"

    async def scenario():
        async with app.run_test(size=(150, 40)):
            await until(lambda: model.cabinets.get("ebike/sim-001") is not None)
            cab.publish("ebike/sim-001/telemetry", json.dumps(
                {"t": 1764202200, "ports": [], "full": True}))
            cab.publish("ebike/sim-001/event", json.dumps(START4), qos=1)
            await until(lambda: started in _screen_text(app))
            for _ in range(2):
                cab.publish("ebike/sim-001/event", json.dumps(END4), qos=1).wait_for_publish(5)
            await until(lambda: ended in _screen_text(app))
            await asyncio.sleep(0.3)  # the redelivered end, had it been taken twice
            table = app.query_one("#events")
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert rows[:3] == [[_hms_local(1764206209), "sim-001", ended],
                                [_hms_local(1764202210), "sim-001", started],
                                [_hms_local(1764202200), "sim-001",
                                 "online (fw cabinet-fw 0.6.0)"]]
            assert [r[1:] for r in rows[3:]] == [["monitor", "broker connected"],
                                                 ["monitor", "broker connecting"]]
            shot = _screen_text(app)
            assert "Events (newest first)" in shot and shot.count(ended) == 1
            # port 4 shows the session's final figures and its end
            assert "last: energy_limit" in shot

    try:
        asyncio.run(scenario())
    finally:
        cab.loop_stop()
        cab.disconnect()


def test_ui_layout_at_80x24_and_on_a_wide_terminal():
    """Ports on top, the alarm and event feeds below: stacked at 80x24, each with rows to
    show, side by side on a wide terminal. The keys still act on the alarm feed."""
    from tools.monitor.app import WIDE, MonitorApp

    def layout(size):
        model = Model("ebike", "*")
        app = MonitorApp(model, ("127.0.0.1", free_port()))  # no broker there: no link
        got = {}

        async def run():
            async with app.run_test(size=size) as pilot:
                msg(model, "ebike/sim-001/status", BIRTH)
                msg(model, "ebike/sim-001/telemetry", {"t": 1764205500, "full": True, "ports": [
                    {"p": p, "s": "idle", "w": 0} for p in range(10)]})
                for r in DAY_ALARMS[:2]:
                    msg(model, "ebike/sim-001/alarm", r)
                msg(model, "ebike/sim-001/event", START4)
                msg(model, "ebike/sim-001/event", END4)
                app._draw()
                await pilot.pause()
                got["regions"] = {n: app.query_one("#" + n).region
                                  for n in ("cabinets", "alarms", "events")}
                got["shot"] = _screen_text(app)
                await pilot.press("A")  # acknowledge all shown, from the keyboard
                await pilot.pause()
                got["unacked"] = len(model.unacked_critical())

        asyncio.run(run())
        return got

    small = layout((80, 24))
    cab, al, ev = (small["regions"][n] for n in ("cabinets", "alarms", "events"))
    assert cab.y < al.y < ev.y and al.width == ev.width == 80  # stacked
    assert cab.height >= 8 and al.height >= 5 and ev.height >= 5  # a few rows each
    assert ev.bottom <= 23  # above the footer
    for s in ("Alarms (newest first)", "Events (newest first)", "overcurrent",
              "port 4 ended: energy_limit"):
        assert s in small["shot"], s
    assert small["unacked"] == 0

    big = layout((WIDE + 20, 50))
    cab, al, ev = (big["regions"][n] for n in ("cabinets", "alarms", "events"))
    assert al.y == ev.y > cab.y and al.right <= ev.x  # side by side
    assert cab.height == 12  # header, cabinet, 10 ports: all shown
    assert ev.width >= 70 and al.width >= 100 and ev.height >= 30
    assert "port 4 ended: energy_limit, 200.0 Wh, 26 fen, 1:06:39" in big["shot"]
    assert big["unacked"] == 0


def test_module_reports_bad_arguments():
    for args, flag in ((["--broker", "localhost"], "--broker"),
                       (["--broker", "h:1", "--site", "ebike/"], "--site"),
                       (["--broker", "h:1", "--webhook", "ftp://x"], "--webhook")):
        r = subprocess.run([sys.executable, "-m", "tools.monitor", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 2 and "error: " + flag in r.stderr, r.stderr
