"""Load and validate a simulator scenario (ARCHITECTURE.md, "Simulator (contract)").

    sc = load(json_text_or_dict)       # or load_file(path)
    sc.ports, sc.meter, sc.config, sc.start_epoch, sc.duration_s, sc.events

Top level: `cabinet` {`ports` 1-16 (default 10), `meter` "hlw8032" (default), "bl0942" or "ct",
`config` object of config overrides, kept as given for the firmware to validate},
`start_epoch` (int, default 1764201600), `duration_s` (number > 0, default 86400),
`events` (list, default empty). Every key is optional; an unknown key anywhere is an error.

Each event has `t` (virtual seconds since the start, 0 <= t <= duration_s) and exactly
one action:
    plug       {"model": NAME, "soc": 0-1} or {"curve": [[s, W], ...], "pf": (0, 1]}; + port
    unplug     true; + port
    swipe      {"card": hex id (2-20 hex digits, even count), "port": optional}
    keys       string of 0-9 * #
    cmd        {"op": str, ...}: arguments are kept as given (the firmware checks them)
    fault      short, overload, heater, relay_weld, meter_silent, meter_garbage, clear; + port
    temp       {"sensor": "cabinet" | "port", "c": -55..200, "port": for sensor "port" only}
               or {"sensor": "cabinet", "fault": "open" | "short" | null}: the cabinet NTC's
               lead broken or shorted; null plugs it back (it reads its temperature again)
    smoke      true or false
    door       true (the cabinet door opens) or false (it closes)
    power_cut  {"duration_s": number > 0, "repeat": int >= 1 (default 1),
                "every_s": number > duration_s (with repeat > 1)}: `repeat` cuts, each
                starting `every_s` after the previous one (a burst of power-ups). Every
                power-up restarts the ticks at the simulator's start (600 000 ms before
                the 2**30 wrap) and the RTC at 2000-01-01; the world's time carries on.
    broker     "down" or "up"
    dns        {"stall_s": number > 0}: no DNS query is answered in [t, t + stall_s)
`port` is a 0-based index, 0..ports-1, everywhere in a scenario (as on the MQTT wire).
`soc` is for battery models only and defaults to 0.2.

`events` comes back as copies of the event objects, stably sorted by t (events at the
same t keep their file order). Errors raise ScenarioError naming the place, e.g.
`event 3 (t=20): unknown key 'prt'`, where 3 is the 0-based index in the file's list.
"""

import json
import math

from chargers import BATTERY_MODELS, MODELS

ACTIONS = ("plug", "unplug", "swipe", "keys", "cmd", "fault", "temp", "smoke", "door",
           "power_cut", "broker", "dns")
PORT_ACTIONS = ("plug", "unplug", "fault")  # these take the event's top-level `port`
FAULTS = ("short", "overload", "heater", "relay_weld", "meter_silent", "meter_garbage",
          "clear")
METERS = ("hlw8032", "bl0942", "ct")
SENSORS = ("cabinet", "port")
NTC_FAULTS = ("open", "short")  # temp.fault; null plugs the sensor back
BROKER = ("down", "up")
MAX_PORTS = 16
DEFAULT_PORTS = 10
DEFAULT_METER = "hlw8032"
DEFAULT_START_EPOCH = 1764201600
DEFAULT_DURATION_S = 86400
_TOP_KEYS = ("cabinet", "start_epoch", "duration_s", "events")
_CABINET_KEYS = ("ports", "meter", "config")
_HEX = "0123456789abcdefABCDEF"
_KEYPAD = "0123456789*#"


class ScenarioError(ValueError):
    pass


class Scenario:
    def __init__(self, ports, meter, config, start_epoch, duration_s, events):
        self.ports = ports
        self.meter = meter
        self.config = config
        self.start_epoch = start_epoch
        self.duration_s = duration_s
        self.events = events


def _is_num(v):
    # bool is an int in Python; NaN and infinities are not scenario numbers
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _is_int(v):
    return not isinstance(v, bool) and isinstance(v, int)


def _one_of(where, name, v, allowed):
    if not isinstance(v, str) or v not in allowed:
        raise ScenarioError("%s%s %r is not one of %s" % (where, name, v, ", ".join(allowed)))


def _keys(where, d, allowed):
    for k in d:
        if k not in allowed:
            raise ScenarioError("%sunknown key %r" % (where, k))


def _obj(where, name, v):
    if not isinstance(v, dict):
        raise ScenarioError("%s%s: %r is not an object" % (where, name, v))


def _port(where, name, v, ports):
    if v is None:
        raise ScenarioError("%s%s: missing" % (where, name))
    if not _is_int(v):
        raise ScenarioError("%s%s: %r is not an integer" % (where, name, v))
    if not 0 <= v < ports:
        raise ScenarioError("%s%s: %d is out of range 0-%d (ports are 0-based)"
                            % (where, name, v, ports - 1))


def _number(where, name, v, lo=None, hi=None, above=None):
    if not _is_num(v):
        raise ScenarioError("%s%s: %r is not a number" % (where, name, v))
    if above is not None and not v > above:
        raise ScenarioError("%s%s: %r is not a number > %s" % (where, name, v, above))
    if lo is not None and not lo <= v <= hi:
        raise ScenarioError("%s%s: %r is out of range %s-%s" % (where, name, v, lo, hi))


def _plug(w, v):
    _obj(w, "plug", v)
    _keys(w + "plug: ", v, ("model", "soc", "curve", "pf"))
    if ("model" in v) == ("curve" in v):
        raise ScenarioError("%splug: needs exactly one of model, curve" % w)
    if "model" in v:
        if "pf" in v:
            raise ScenarioError("%splug.pf: only for a curve" % w)
        _one_of(w, "plug.model", v["model"], MODELS)
        if "soc" in v:
            if v["model"] not in BATTERY_MODELS:
                raise ScenarioError("%splug.soc: not used by model %r" % (w, v["model"]))
            _number(w, "plug.soc", v["soc"], 0, 1)
        return
    if "soc" in v:
        raise ScenarioError("%splug.soc: not used by a curve" % w)
    if "pf" in v:
        _number(w, "plug.pf", v["pf"], 0, 1, above=0)
    pts = v["curve"]
    if not isinstance(pts, list) or not pts:
        raise ScenarioError("%splug.curve: %r is not a list of [s, W] points" % (w, pts))
    last = 0
    for i, p in enumerate(pts):
        name = "plug.curve[%d]" % i
        if not isinstance(p, list) or len(p) != 2 or not _is_num(p[0]) or not _is_num(p[1]):
            raise ScenarioError("%s%s: %r is not [s, W]" % (w, name, p))
        if p[0] < last:
            raise ScenarioError("%s%s: s %r is before the previous point or 0"
                                % (w, name, p[0]))
        if p[1] < 0:
            raise ScenarioError("%s%s: W %r is negative" % (w, name, p[1]))
        last = p[0]


def _swipe(w, v, ports):
    _obj(w, "swipe", v)
    _keys(w + "swipe: ", v, ("card", "port"))
    card = v.get("card")
    if (not isinstance(card, str) or not 2 <= len(card) <= 20 or len(card) % 2
            or [c for c in card if c not in _HEX]):
        raise ScenarioError("%sswipe.card: %r is not a hex card id (2-20 hex digits, "
                            "even count)" % (w, card))
    if "port" in v:
        _port(w, "swipe.port", v["port"], ports)


def _temp(w, v, ports):
    _obj(w, "temp", v)
    _keys(w + "temp: ", v, ("sensor", "c", "port", "fault"))
    _one_of(w, "temp.sensor", v.get("sensor"), SENSORS)
    if "fault" in v:
        if "c" in v:
            raise ScenarioError("%stemp: needs exactly one of c, fault" % w)
        if v["sensor"] != "cabinet":
            raise ScenarioError("%stemp.fault: only for sensor 'cabinet'" % w)
        if v["fault"] is not None and v["fault"] not in NTC_FAULTS:
            raise ScenarioError("%stemp.fault: %r is not one of open, short, null"
                                % (w, v["fault"]))
        if "port" in v:
            raise ScenarioError("%stemp.port: not used by sensor 'cabinet'" % w)
        return
    if "c" not in v:
        raise ScenarioError("%stemp.c: missing" % w)
    _number(w, "temp.c", v["c"], -55, 200)
    if v["sensor"] == "port":
        _port(w, "temp.port", v.get("port"), ports)
    elif "port" in v:
        raise ScenarioError("%stemp.port: not used by sensor 'cabinet'" % w)


def _power_cut(w, v):
    _obj(w, "power_cut", v)
    _keys(w + "power_cut: ", v, ("duration_s", "repeat", "every_s"))
    if "duration_s" not in v:
        raise ScenarioError("%spower_cut.duration_s: missing" % w)
    _number(w, "power_cut.duration_s", v["duration_s"], above=0)
    repeat = v.get("repeat", 1)
    if not _is_int(repeat) or repeat < 1:
        raise ScenarioError("%spower_cut.repeat: %r is not an integer >= 1" % (w, repeat))
    if "every_s" in v:
        _number(w, "power_cut.every_s", v["every_s"], above=v["duration_s"])
    elif repeat > 1:
        raise ScenarioError("%spower_cut.every_s: missing (needed with repeat > 1)" % w)


def _action(w, act, v, ports):
    if act == "plug":
        _plug(w, v)
    elif act == "unplug":
        if v is not True:
            raise ScenarioError("%sunplug: %r is not true" % (w, v))
    elif act == "swipe":
        _swipe(w, v, ports)
    elif act == "keys":
        if not isinstance(v, str) or not v or [c for c in v if c not in _KEYPAD]:
            raise ScenarioError("%skeys: %r is not a string of 0-9 * #" % (w, v))
    elif act == "cmd":
        _obj(w, "cmd", v)
        op = v.get("op")
        if not isinstance(op, str) or not op:
            raise ScenarioError("%scmd.op: %r is not a non-empty string" % (w, op))
    elif act == "fault":
        _one_of(w, "fault", v, FAULTS)
    elif act == "temp":
        _temp(w, v, ports)
    elif act in ("smoke", "door"):
        if not isinstance(v, bool):
            raise ScenarioError("%s%s: %r is not true or false" % (w, act, v))
    elif act == "power_cut":
        _power_cut(w, v)
    elif act == "dns":
        _obj(w, "dns", v)
        _keys(w + "dns: ", v, ("stall_s",))
        if "stall_s" not in v:
            raise ScenarioError("%sdns.stall_s: missing" % w)
        _number(w, "dns.stall_s", v["stall_s"], above=0)
    else:
        _one_of(w, "broker", v, BROKER)


def _event(i, ev, ports, duration_s):
    if not isinstance(ev, dict):
        raise ScenarioError("event %d: %r is not an object" % (i, ev))
    t = ev.get("t")
    if not _is_num(t) or t < 0:
        raise ScenarioError("event %d: t: %r is not a number >= 0" % (i, t))
    w = "event %d (t=%s): " % (i, t)
    if t > duration_s:
        raise ScenarioError("%st is after duration_s %s" % (w, duration_s))
    _keys(w, ev, ("t", "port") + ACTIONS)
    acts = [k for k in ACTIONS if k in ev]
    if not acts:
        raise ScenarioError("%sno action (one of %s)" % (w, ", ".join(ACTIONS)))
    if len(acts) > 1:
        raise ScenarioError("%smore than one action (%s)" % (w, ", ".join(acts)))
    act = acts[0]
    if act in PORT_ACTIONS:
        _port(w, "port", ev.get("port"), ports)
    elif "port" in ev:
        raise ScenarioError("%sport: not used by %s" % (w, act))
    _action(w, act, ev[act], ports)
    return t


def _cabinet(cab):
    _obj("", "cabinet", cab)
    _keys("cabinet: ", cab, _CABINET_KEYS)
    ports = cab.get("ports", DEFAULT_PORTS)
    if not _is_int(ports):
        raise ScenarioError("cabinet.ports: %r is not an integer" % (ports,))
    if not 1 <= ports <= MAX_PORTS:
        raise ScenarioError("cabinet.ports: %d is out of range 1-%d" % (ports, MAX_PORTS))
    meter = cab.get("meter", DEFAULT_METER)
    _one_of("", "cabinet.meter", meter, METERS)
    config = cab.get("config", {})
    _obj("", "cabinet.config", config)
    return ports, meter, config


def load(src):
    """A Scenario from JSON text (str or bytes) or an already-parsed dict."""
    if isinstance(src, (bytes, bytearray)):
        src = src.decode()
    if isinstance(src, str):
        try:
            src = json.loads(src)
        except ValueError as e:
            raise ScenarioError("not valid JSON: %s" % e)
    if not isinstance(src, dict):
        raise ScenarioError("scenario: %r is not an object" % (src,))
    _keys("scenario: ", src, _TOP_KEYS)
    ports, meter, config = _cabinet(src.get("cabinet", {}))
    start = src.get("start_epoch", DEFAULT_START_EPOCH)
    if not _is_int(start) or start < 0:
        raise ScenarioError("start_epoch: %r is not an integer >= 0" % (start,))
    duration_s = src.get("duration_s", DEFAULT_DURATION_S)
    _number("", "duration_s", duration_s, above=0)
    events = src.get("events", [])
    if not isinstance(events, list):
        raise ScenarioError("events: %r is not a list" % (events,))
    keyed = []
    for i, ev in enumerate(events):
        keyed.append((_event(i, ev, ports, duration_s), i, dict(ev)))
    keyed.sort(key=lambda k: (k[0], k[1]))  # MicroPython's sort is not stable
    return Scenario(ports, meter, config, start, duration_s, [k[2] for k in keyed])


def load_file(path):
    with open(path) as f:
        return load(f.read())
