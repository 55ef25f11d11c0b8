"""Randomised end-of-charge campaign on the MicroPython unix port (tools/sim/campaign.py).

Every built-in battery charger model, random state of charge, measurement noise and
plug time; one run in four unplugged during constant-current charging. No run may end
with a false verdict: a plugged battery ends `full` only after its charger really
tapered (not in constant current, under 1.25 * full_w), an unplugged one ends
`unplugged` 300-303 s later, and nothing ends `no_load`. `make test` runs 24 runs,
`make test-full` 200.
"""

import json
import subprocess

from conftest import FULL
from mpy import MICROPYTHON, ROOT

RUNS = 200 if FULL else 24
FULL_W = 30


def _campaign(runs, seed0=1000):
    half = runs // 2
    procs = [subprocess.Popen([MICROPYTHON, "tools/sim/campaign.py", str(n), str(s)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, s in ((half, seed0), (runs - half, seed0 + half))]
    rows = []
    for p in procs:
        out, err = p.communicate(timeout=3000)
        assert p.returncode == 0, err[-3000:]
        rows += [json.loads(line) for line in out.splitlines() if line.strip()]
    return rows


def test_no_false_verdicts_across_randomised_runs():
    rows = _campaign(RUNS)
    assert len(rows) == RUNS
    bad = []
    for r in rows:
        if r["unplug_at"] is not None:
            ok = r.get("reason") == "unplugged" and 300 <= r["end_at"] - r["unplug_at"] <= 303
        else:
            ok = (r.get("reason") == "full" and r["stage_at_full"] != "cc"
                  and r["w_at_full"] < FULL_W * 1.25)
        # never billed more energy than really flowed
        ok = ok and r["wh"] <= r["true_wh"] + 0.05
        if not ok:
            bad.append(r)
    summary = {}
    for r in rows:
        key = (r["model"], r.get("reason"))
        summary[key] = summary.get(key, 0) + 1
    print("campaign:", RUNS, "runs", sorted(summary.items()))
    assert not bad, "false verdicts: %s" % json.dumps(bad[:5])
    assert {r["model"] for r in rows} == {"lead_acid_48v_20ah", "lithium_48v_4a",
                                          "lithium_handshake", "clocking_lithium"}
