# Scenario dicts for tests (the contract: ARCHITECTURE.md "scenario file", checked by
# tools/sim/scenario.py load()). One builder instead of a copy per test file; plain dicts
# and no imports, so DUAL tests use it on the MicroPython unix port too.

LEAD = "lead_acid_48v_20ah"
LITHIUM = "lithium_48v_4a"
FULL = {"full": True}


def scenario(events=(), ports=2, duration_s=3600, config=None, meter=None, start_epoch=None):
    """{"cabinet": {...}, "duration_s": ..., "events": [...]}; keys left out stay at the
    simulator's defaults (meter hlw8032, no config overrides, its own start epoch)."""
    cab = {"ports": ports}
    if meter is not None:
        cab["meter"] = meter
    if config:
        cab["config"] = dict(config)
    sc = {"cabinet": cab, "duration_s": duration_s, "events": list(events)}
    if start_epoch is not None:
        sc["start_epoch"] = start_epoch
    return sc


def plug(t, port, model=LEAD, soc=0.3):
    return {"t": t, "port": port, "plug": {"model": model, "soc": soc}}


def start(t, port, limit=None, **extra):
    """A start command at t: charge until full unless a limit is given."""
    cmd = {"op": "start", "port": port, "limit": FULL if limit is None else limit}
    cmd.update(extra)
    return {"t": t, "cmd": cmd}


def cmd(t, op, **args):
    c = {"op": op}
    c.update(args)
    return {"t": t, "cmd": c}
