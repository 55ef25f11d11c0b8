# Randomised end-of-charge campaign (MicroPython or CPython):
#
#   .venv/bin/micropython tools/sim/campaign.py RUNS [SEED]
#
# Each run is a one-port cabinet with a random battery charger model at a random state
# of charge, plugged a random time before or after the port opens; one run in four is
# unplugged at a random moment of constant-current charging. Prints one JSON line per
# run with what the firmware decided and what the charger was really doing then, so a
# test can count false `full`, `unplugged` and `no_load` verdicts.
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
for _p in (_here + "/../../lib", _here + "/../..", _here):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import json  # noqa: E402

import chargers  # noqa: E402
import scenario as scenario_mod  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402

_CHUNK_S = 600
_MAX_S = 14 * 3600


class _Null:
    def write(self, s):
        pass


def one_run(seed):
    r = chargers.Rng(seed)
    plug = chargers.randomised_plug(seed)
    t_start = 100
    t_plug = t_start + int(r.uniform(-60, 60))  # before, or up to 60 s after, the port opens
    unplug_at = None
    if r.next() % 4 == 0:
        unplug_at = t_start + int(r.uniform(300, 1800))  # lithium CC lasts >= ~40 min from 0.9
    events = [{"t": t_plug, "port": 0, "plug": plug},
              {"t": t_start, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}}]
    if unplug_at is not None:
        events.append({"t": unplug_at, "port": 0, "unplug": True})
    sc = scenario_mod.load({"cabinet": {"ports": 1}, "duration_s": _MAX_S, "events": events})
    sim = Sim(sc, _Null(), seed=seed, panel=False)  # the judgement, not the front panel
    out = {"seed": seed, "model": plug["model"], "soc": plug["soc"], "unplug_at": unplug_at}
    board = sim.board

    def capture(ev):
        k = ev["ev"]
        load = board.loads[0]
        if k == "port" and ev["state"] == "float":
            out["full_at"] = CLOCK.us // 1000000
            out["stage_at_full"] = load.stage if load is not None else "unplugged"
            out["w_at_full"] = board.watts[0]
        elif k == "session_end":
            out["reason"] = ev["reason"]
            out["end_at"] = CLOCK.us // 1000000
            out["wh"] = ev["wh"]
            out["stage_at_end"] = load.stage if load is not None else "unplugged"
            out["true_wh"] = board.true_mwh[0] / 1000

    sim.app.emit = capture
    t = 0
    while "reason" not in out and t < _MAX_S:
        t += _CHUNK_S
        sim.run(until_s=t)
    return out


def main(argv):
    runs = int(argv[0]) if argv else 20
    seed0 = int(argv[1]) if len(argv) > 1 else 1
    for i in range(runs):
        print(json.dumps(one_run(seed0 + i)))


if __name__ == "__main__":
    main(sys.argv[1:])
