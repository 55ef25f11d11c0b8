# Scenario files: the contract's example loads; every kind of mistake is named precisely.
import json

from scenario import ScenarioError, load

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

# The example from ARCHITECTURE.md, "Simulator (contract)", verbatim.
EXAMPLE = """{
  "cabinet": {"ports": 10, "meter": "hlw8032", "config": {"...": "config overrides"}},
  "start_epoch": 1764201600,
  "duration_s": 86400,
  "events": [
    {"t": 5,   "port": 3, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
    {"t": 9,   "swipe": {"card": "04A1B2C3", "port": 3}},
    {"t": 20,  "cmd": {"op": "start", "port": 4, "limit": {"minutes": 240}}},
    {"t": 30,  "port": 4, "plug": {"curve": [[0, 0.0], [40, 3.0], [60, 182.0], [9000, 150.0]], "pf": 0.6}},
    {"t": 900, "port": 4, "unplug": true},
    {"t": 950, "port": 5, "fault": "short"},
    {"t": 990, "temp": {"sensor": "cabinet", "c": 72.0}},
    {"t": 999, "smoke": true},
    {"t": 1000,"power_cut": {"duration_s": 300}},
    {"t": 2000,"broker": "down"}
  ]
}"""  # noqa: E501 (verbatim)


def _err(src):
    try:
        load(src)
    except ScenarioError as e:
        return str(e)
    raise AssertionError("accepted %r" % (src,))


def _ev(ev, ports=10):
    return _err({"cabinet": {"ports": ports}, "events": [{"t": 0, "smoke": False}, ev]})


def test_contract_example_loads():
    sc = load(EXAMPLE)
    assert sc.ports == 10 and sc.meter == "hlw8032"
    assert sc.config == {"...": "config overrides"}
    assert sc.start_epoch == 1764201600 and sc.duration_s == 86400
    assert len(sc.events) == 10
    assert sc.events[0] == {"t": 5, "port": 3,
                            "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}}
    assert sc.events[2]["cmd"] == {"op": "start", "port": 4, "limit": {"minutes": 240}}
    assert sc.events[9] == {"t": 2000, "broker": "down"}
    assert load(json.loads(EXAMPLE)).events == sc.events  # a parsed dict works too
    assert load(EXAMPLE.encode()).ports == 10


def test_defaults():
    sc = load("{}")
    assert (sc.ports, sc.meter, sc.config) == (10, "hlw8032", {})
    assert (sc.start_epoch, sc.duration_s, sc.events) == (1764201600, 86400, [])
    assert load({"cabinet": {"meter": "ct", "ports": 16}}).meter == "ct"


def test_events_are_stably_sorted_by_t_and_copied():
    evs = [{"t": 10, "keys": "1"}, {"t": 5, "keys": "2"}, {"t": 10, "keys": "3"},
           {"t": 5.0, "keys": "4"}, {"t": 0, "keys": "5"}, {"t": 10, "keys": "6"}]
    sc = load({"events": evs})
    assert [e["keys"] for e in sc.events] == ["5", "2", "4", "1", "3", "6"]
    sc.events[0]["keys"] = "x"
    assert evs[4]["keys"] == "5"  # the caller's dicts are not touched


def test_top_level_and_cabinet_errors():
    assert _err({"cabinet": {}, "evnts": []}) == "scenario: unknown key 'evnts'"
    assert _err({"cabinet": {"port": 3}}) == "cabinet: unknown key 'port'"
    assert _err({"cabinet": {"ports": 20}}) == "cabinet.ports: 20 is out of range 1-16"
    assert _err({"cabinet": {"ports": 0}}) == "cabinet.ports: 0 is out of range 1-16"
    assert _err({"cabinet": {"ports": "10"}}) == "cabinet.ports: '10' is not an integer"
    assert _err({"cabinet": {"ports": True}}) == "cabinet.ports: True is not an integer"
    assert _err({"cabinet": {"meter": "pzem"}}) == \
        "cabinet.meter 'pzem' is not one of hlw8032, bl0942, ct"
    assert _err({"cabinet": {"config": []}}) == "cabinet.config: [] is not an object"
    assert _err({"cabinet": 3}) == "cabinet: 3 is not an object"
    assert _err({"start_epoch": -1}) == "start_epoch: -1 is not an integer >= 0"
    assert _err({"start_epoch": 1.5}) == "start_epoch: 1.5 is not an integer >= 0"
    assert _err({"duration_s": 0}) == "duration_s: 0 is not a number > 0"
    assert _err({"duration_s": "1d"}) == "duration_s: '1d' is not a number"
    assert _err({"events": {}}) == "events: {} is not a list"
    assert _err("[1, 2]") == "scenario: [1, 2] is not an object"
    assert _err("{\"events\": [").startswith("not valid JSON")


def test_event_shape_errors():
    assert _ev(7) == "event 1: 7 is not an object"
    assert _ev({"smoke": True}) == "event 1: t: None is not a number >= 0"
    assert _ev({"t": -1, "smoke": True}) == "event 1: t: -1 is not a number >= 0"
    assert _ev({"t": "5", "smoke": True}) == "event 1: t: '5' is not a number >= 0"
    assert _ev({"t": 90000, "smoke": True}) == \
        "event 1 (t=90000): t is after duration_s 86400"
    assert _ev({"t": 20, "prt": 3, "unplug": True}) == "event 1 (t=20): unknown key 'prt'"
    assert _ev({"t": 20}).startswith("event 1 (t=20): no action (one of plug, unplug, ")
    assert _ev({"t": 20, "smoke": True, "broker": "up"}) == \
        "event 1 (t=20): more than one action (smoke, broker)"


def test_port_errors():
    assert _ev({"t": 3, "unplug": True}) == "event 1 (t=3): port: missing"
    assert _ev({"t": 3, "port": 10, "unplug": True}) == \
        "event 1 (t=3): port: 10 is out of range 0-9 (ports are 0-based)"
    assert _ev({"t": 3, "port": 3, "unplug": True}, ports=3) == \
        "event 1 (t=3): port: 3 is out of range 0-2 (ports are 0-based)"
    assert _ev({"t": 3, "port": -1, "fault": "short"}).startswith(
        "event 1 (t=3): port: -1 is out of range")
    assert _ev({"t": 3, "port": 1.0, "unplug": True}) == \
        "event 1 (t=3): port: 1.0 is not an integer"
    assert _ev({"t": 3, "port": 2, "smoke": True}) == "event 1 (t=3): port: not used by smoke"
    assert _ev({"t": 3, "port": 2, "swipe": {"card": "04A1B2C3"}}) == \
        "event 1 (t=3): port: not used by swipe"
    load({"events": [{"t": 3, "port": 0, "unplug": True}, {"t": 4, "port": 9, "unplug": True}]})


def test_plug_errors():
    assert _ev({"t": 30, "port": 1, "plug": {"model": "foo"}}).startswith(
        "event 1 (t=30): plug.model 'foo' is not one of lead_acid_48v_20ah, lithium_48v_4a, ")
    assert _ev({"t": 30, "port": 1, "plug": "lithium_48v_4a"}) == \
        "event 1 (t=30): plug: 'lithium_48v_4a' is not an object"
    assert _ev({"t": 30, "port": 1, "plug": {"model": "lithium_48v_4a", "sco": 0.3}}) == \
        "event 1 (t=30): plug: unknown key 'sco'"
    assert _ev({"t": 30, "port": 1, "plug": {}}) == \
        "event 1 (t=30): plug: needs exactly one of model, curve"
    assert _ev({"t": 30, "port": 1, "plug": {"model": "idle_charger", "curve": [[0, 1]]}}) == \
        "event 1 (t=30): plug: needs exactly one of model, curve"
    assert _ev({"t": 30, "port": 1, "plug": {"model": "lithium_48v_4a", "soc": 1.5}}) == \
        "event 1 (t=30): plug.soc: 1.5 is out of range 0-1"
    assert _ev({"t": 30, "port": 1, "plug": {"model": "heater_1500w", "soc": 0.5}}) == \
        "event 1 (t=30): plug.soc: not used by model 'heater_1500w'"
    assert _ev({"t": 30, "port": 1, "plug": {"model": "lithium_48v_4a", "pf": 0.5}}) == \
        "event 1 (t=30): plug.pf: only for a curve"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": []}}) == \
        "event 1 (t=30): plug.curve: [] is not a list of [s, W] points"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": [[0, 1], [5]]}}) == \
        "event 1 (t=30): plug.curve[1]: [5] is not [s, W]"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": [[0, 1], [9, 2], [8, 3]]}}) == \
        "event 1 (t=30): plug.curve[2]: s 8 is before the previous point or 0"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": [[0, -1]]}}) == \
        "event 1 (t=30): plug.curve[0]: W -1 is negative"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": [[0, 1]], "pf": 0}}) == \
        "event 1 (t=30): plug.pf: 0 is not a number > 0"
    assert _ev({"t": 30, "port": 1, "plug": {"curve": [[0, 1]], "pf": 1.2}}) == \
        "event 1 (t=30): plug.pf: 1.2 is out of range 0-1"


def test_action_value_errors():
    assert _ev({"t": 1, "port": 1, "unplug": False}) == "event 1 (t=1): unplug: False is not true"
    assert _ev({"t": 1, "swipe": {"card": "04A1B2C"}}).startswith(
        "event 1 (t=1): swipe.card: '04A1B2C' is not a hex card id")
    assert _ev({"t": 1, "swipe": {"card": "04A1B2CG"}}).startswith(
        "event 1 (t=1): swipe.card: '04A1B2CG' is not a hex card id")
    assert _ev({"t": 1, "swipe": {"card": "04A1B2C3", "prt": 1}}) == \
        "event 1 (t=1): swipe: unknown key 'prt'"
    assert _ev({"t": 1, "swipe": {"card": "04A1B2C3", "port": 12}}).startswith(
        "event 1 (t=1): swipe.port: 12 is out of range 0-9")
    assert _ev({"t": 1, "keys": "12a#"}) == \
        "event 1 (t=1): keys: '12a#' is not a string of 0-9 * #"
    assert _ev({"t": 1, "keys": ""}) == "event 1 (t=1): keys: '' is not a string of 0-9 * #"
    assert _ev({"t": 1, "cmd": {"port": 1}}) == \
        "event 1 (t=1): cmd.op: None is not a non-empty string"
    assert _ev({"t": 1, "cmd": "start"}) == "event 1 (t=1): cmd: 'start' is not an object"
    assert _ev({"t": 1, "port": 2, "fault": "fire"}) == (
        "event 1 (t=1): fault 'fire' is not one of short, overload, heater, relay_weld, "
        "meter_silent, meter_garbage, clear")
    assert _ev({"t": 1, "temp": {"sensor": "room", "c": 20}}) == \
        "event 1 (t=1): temp.sensor 'room' is not one of cabinet, port"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet"}}) == "event 1 (t=1): temp.c: missing"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "c": "hot"}}) == \
        "event 1 (t=1): temp.c: 'hot' is not a number"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "c": 500}}) == \
        "event 1 (t=1): temp.c: 500 is out of range -55-200"
    assert _ev({"t": 1, "temp": {"sensor": "port", "c": 60}}) == "event 1 (t=1): temp.port: missing"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "c": 60, "port": 1}}) == \
        "event 1 (t=1): temp.port: not used by sensor 'cabinet'"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "c": 60, "where": 1}}) == \
        "event 1 (t=1): temp: unknown key 'where'"
    assert _ev({"t": 1, "smoke": 1}) == "event 1 (t=1): smoke: 1 is not true or false"
    assert _ev({"t": 1, "power_cut": {"duration_s": 0}}) == \
        "event 1 (t=1): power_cut.duration_s: 0 is not a number > 0"
    assert _ev({"t": 1, "power_cut": {}}) == "event 1 (t=1): power_cut.duration_s: missing"
    assert _ev({"t": 1, "power_cut": {"duration_s": 5, "s": 1}}) == \
        "event 1 (t=1): power_cut: unknown key 's'"
    assert _ev({"t": 1, "broker": "flaky"}) == \
        "event 1 (t=1): broker 'flaky' is not one of down, up"


def test_every_valid_action_loads():
    evs = [{"t": 0, "port": 0, "plug": {"model": "idle_charger"}},
           {"t": 1, "port": 1, "plug": {"model": "lithium_handshake", "soc": 0}},
           {"t": 2, "port": 2, "plug": {"curve": [[0, 5]]}},
           {"t": 3, "swipe": {"card": "04a1b2c3d4e5f6"}},
           {"t": 4, "keys": "0123456789*#"},
           {"t": 5, "cmd": {"op": "estop"}},
           {"t": 6, "temp": {"sensor": "port", "c": -10, "port": 2}},
           {"t": 7, "smoke": False},
           {"t": 8, "power_cut": {"duration_s": 0.5}},
           {"t": 9, "broker": "up"},
           {"t": 10.5, "port": 2, "unplug": True}]
    for i, f in enumerate(("short", "overload", "heater", "relay_weld", "meter_silent",
                           "meter_garbage", "clear")):
        evs.append({"t": 20 + i, "port": 3, "fault": f})
    sc = load({"cabinet": {"ports": 4}, "duration_s": 60, "events": evs})
    assert len(sc.events) == len(evs)
    assert sc.events[-1] == {"t": 26, "port": 3, "fault": "clear"}


def test_dns_stall_and_power_up_bursts():
    sc = load({"events": [{"t": 10, "dns": {"stall_s": 3600}},
                          {"t": 20, "power_cut": {"duration_s": 5, "repeat": 5,
                                                  "every_s": 48}}]})
    assert sc.events[0]["dns"] == {"stall_s": 3600}
    assert sc.events[1]["power_cut"]["repeat"] == 5
    assert load({"events": [{"t": 1, "power_cut": {"duration_s": 5, "every_s": 9}}]})

    def ev(e):
        return _err({"events": [dict(e, t=1)]})
    assert ev({"dns": {}}) == "event 0 (t=1): dns.stall_s: missing"
    assert ev({"dns": {"stall_s": 0}}) == "event 0 (t=1): dns.stall_s: 0 is not a number > 0"
    assert ev({"dns": {"stall_s": 5, "x": 1}}) == "event 0 (t=1): dns: unknown key 'x'"
    assert ev({"dns": 5}) == "event 0 (t=1): dns: 5 is not an object"
    assert ev({"power_cut": {"duration_s": 5, "repeat": 0}}) == (
        "event 0 (t=1): power_cut.repeat: 0 is not an integer >= 1")
    assert ev({"power_cut": {"duration_s": 5, "repeat": 2}}) == (
        "event 0 (t=1): power_cut.every_s: missing (needed with repeat > 1)")
    assert ev({"power_cut": {"duration_s": 5, "repeat": 2, "every_s": 5}}) == (
        "event 0 (t=1): power_cut.every_s: 5 is not a number > 5")
    assert ev({"power_cut": {"duration_s": 5, "burst": 2}}) == (
        "event 0 (t=1): power_cut: unknown key 'burst'")
    assert ev({"dns": {"stall_s": 5}, "port": 1}) == "event 0 (t=1): port: not used by dns"


def test_cabinet_sensor_fault_events():
    sc = load({"events": [{"t": 1, "temp": {"sensor": "cabinet", "fault": "open"}},
                          {"t": 2, "temp": {"sensor": "cabinet", "fault": "short"}},
                          {"t": 3, "temp": {"sensor": "cabinet", "fault": None}}]})
    assert [e["temp"]["fault"] for e in sc.events] == ["open", "short", None]
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "fault": "wet"}}) == \
        "event 1 (t=1): temp.fault: 'wet' is not one of open, short, null"
    assert _ev({"t": 1, "temp": {"sensor": "port", "fault": "open", "port": 1}}) == \
        "event 1 (t=1): temp.fault: only for sensor 'cabinet'"
    assert _ev({"t": 1, "temp": {"sensor": "cabinet", "fault": "open", "c": 20}}) == \
        "event 1 (t=1): temp: needs exactly one of c, fault"
    load({"events": [{"t": 1, "temp": {"sensor": "cabinet", "c": 20}}]})  # c keeps its meaning
