# Snapshot and restore of the simulated physical world (MicroPython-compatible).
#
# For the power-cut campaign: the simulator process is killed at random moments and
# restarted; the firmware comes back from its journal, and the world (virtual time,
# plugged chargers and their state of charge, energy that really flowed, the scenario
# position) comes back from this snapshot. The snapshot is written atomically before
# every control tick, so it is never older than what the firmware journaled.

import json
import os

import chargers

_SCALARS = ("welded", "meter_fault", "watts", "pfs", "true_mwh", "acc_ms", "powered",
            "port_c")


def _plain(obj):
    """An object's attributes as JSON-able data (nested objects as dicts)."""
    out = {}
    for k, v in obj.__dict__.items():
        if hasattr(v, "__dict__"):
            v = _plain(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def _apply(obj, data):
    for k, v in data.items():
        cur = getattr(obj, k, None)
        if isinstance(v, dict) and hasattr(cur, "__dict__"):
            _apply(cur, v)
        elif isinstance(cur, tuple) and isinstance(v, list):
            setattr(obj, k, tuple(v))
        else:
            setattr(obj, k, v)


def snapshot(sim):
    b = sim.board
    loads = []
    for p in range(b.n):
        spec = b.specs[p]
        loads.append(None if spec is None or b.loads[p] is None
                     else [spec[0], spec[1], _plain(b.loads[p])])
    from vclock import CLOCK

    w = {"us": sim.clock_us(), "epoch0": sim.clock_epoch0(), "next_event": sim.next_event,
         "world0": CLOCK.world0, "t0_ms": CLOCK.t0_ms,
         "plugs": b._plugs, "loads": loads, "ntc_c": b.sensors.ntc_model.temp_c,
         "ntc_fault": b.sensors.ntc_model.fault}
    for k in _SCALARS:
        w[k] = getattr(b, k)
    return w


def save(sim, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(snapshot(sim)))
    os.rename(tmp, path)


def load(path):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def restore(sim, w):
    """Put the world back as it was; the firmware is not touched (it boots after)."""
    from vclock import CLOCK

    CLOCK.us = w["us"]
    CLOCK.epoch0 = w["epoch0"]
    CLOCK.world0 = w.get("world0", CLOCK.world0)
    CLOCK.t0_ms = w.get("t0_ms", CLOCK.t0_ms)
    sim.next_event = w["next_event"]
    b = sim.board
    b._plugs = w["plugs"]
    for k in _SCALARS:
        setattr(b, k, w[k])
    for p in range(b.n):
        item = w["loads"][p]
        if item is None:
            b.loads[p] = None
            b.specs[p] = None
            continue
        spec, seed, state = item
        load = chargers.make_load(spec, seed)
        _apply(load, state)
        b.loads[p] = load
        b.specs[p] = [spec, seed]
    b.sensors.ntc_model.temp_c = w["ntc_c"]
    b.sensors.ntc_model.fault = w.get("ntc_fault")
    b.powered = [False] * b.n  # the cut opened every relay: recompute power next step
