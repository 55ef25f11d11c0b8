"""Power-cut campaign: the firmware on the MicroPython unix port is SIGKILLed at chosen
flash operations (mid-write included) while a busy 10-port scenario runs, and restarted
from the same state directory each time (tools/sim/killrun.py: the world resumes from its
own snapshot, the firmware from its journal, as after a power cut).

Kill points are counted in flash operations (store and outbox writes, renames, removes;
tools/sim/flashcut.py), from a fixed seed: every run cuts at the same moments, whatever
the machine's load. One kill in four lands inside the boot (the journal restore); the
others spread over the scenario, half of them tearing the write they cut.

Across all kills: no session lost (every start has an end), none ended twice (one
distinct end record per session), no record duplicated under a different id, billed
energy never above what really flowed, and the energy not billed is at most one
checkpoint interval (checkpoint_s = 60 s) of every charging port per cut.
`make test` kills 40 times, `make test-full` 200.
"""

import json
import os
import random
import signal
import subprocess
import time

import scenkit
from conftest import FULL
from mpy import MICROPYTHON, ROOT

KILLS = 200 if FULL else 40
SEED = 20261127
RUN_OPS = 1864  # flash operations of the whole scenario uncut (killrun prints DONE <ops>)
BOOT_OPS = 23  # ... of one boot (boot counter, every port's record restored and saved)


def kill_points(n, seed):
    """n cut specs for killrun.py ("N" or "Nt"), the same for a given seed."""
    rng = random.Random(seed)
    span = max(8, 2 * RUN_OPS // n)  # on average the legs cover the whole scenario
    out = []
    for i in range(n):
        if i % 4 == 3:
            at = rng.randint(1, BOOT_OPS)  # inside the boot: a cut during restore
        else:
            at = BOOT_OPS + rng.randint(1, span)
        out.append("%d%s" % (at, "t" if rng.random() < 0.5 else ""))
    return out
CHECKPOINT_S = 60
MAX_PORT_W = 200  # the chargers in this scenario draw at most ~191 W


def busy_scenario():
    models = ["lead_acid_48v_20ah", "lithium_48v_4a", "lithium_handshake", "clocking_lithium"]
    limits = [{"full": True}, {"minutes": 50}, {"wh": 60}, {"fen": 8}]
    ev = []
    for p in range(10):
        ev.append({"t": 1 + p, "port": p, "plug": {"model": models[p % 4], "soc": 0.2 + 0.05 * p}})
        ev.append({"t": 3 + p, "cmd": {"op": "start", "port": p, "limit": limits[p % 4]}})
        ev.append({"t": 3600 + p, "port": p, "unplug": True})
        ev.append({"t": 4000 + p, "port": p, "plug": {"model": models[(p + 1) % 4], "soc": 0.3}})
        ev.append({"t": 4010 + p, "cmd": {"op": "start", "port": p, "limit": limits[(p + 1) % 4]}})
    ev.append({"t": 7000, "cmd": {"op": "estop"}})
    return scenkit.scenario(ev, 10, 7200, {"checkpoint_s": CHECKPOINT_S})


def read_log(path):
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # the line a kill tore
    return out


def test_sigkill_campaign_loses_and_doubles_nothing(tmp_path):
    scen = tmp_path / "s.json"
    scen.write_text(json.dumps(busy_scenario()))
    state, log = str(tmp_path / "state"), str(tmp_path / "log")
    cmd = [MICROPYTHON, "tools/sim/killrun.py", str(scen), state, log]
    points = kill_points(KILLS, SEED)
    kills = boot_kills = torn = 0
    done = False
    t0 = time.time()
    while not done:
        cut = points[kills] if kills < KILLS else "0"
        p = subprocess.run(cmd + [cut], cwd=ROOT, capture_output=True, timeout=600)
        if p.returncode == -signal.SIGKILL:
            boot = [int(ln.split()[1]) for ln in p.stdout.decode().splitlines()
                    if ln.startswith("BOOT ")]
            boot_kills += not boot  # killed before the boot was over
            torn += cut.endswith("t")
            kills += 1
            continue
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        done = b"DONE" in p.stdout
    # RUN_OPS spreads the kills over the run; if the firmware now writes less, the run may
    # end a little early: most kills must still have landed.
    assert kills >= KILLS * 3 // 4, "the scenario ended after %d of %d kills" % (kills, KILLS)
    events = read_log(log)
    records = [e["payload"] for e in events if e["ev"] == "record"]
    by_id = {}
    for r in records:
        by_id.setdefault(r["id"], []).append(r)
    # one content per id: a re-delivery is the same record, never a different one
    assert all(len({json.dumps(x, sort_keys=True) for x in rs}) == 1 for rs in by_id.values())
    starts = {r["sid"]: r for r in records if r["id"].endswith(":s")}
    ends = {r["sid"]: r for r in records if r["id"].endswith(":e")}
    # 20 starts are asked for; a second-round start can find its port still busy when
    # cuts delayed the first session's end (each boot restarts the unplug window).
    assert len(starts) >= 15
    assert set(ends) == set(starts), "lost: %s" % (set(starts) ^ set(ends))
    for kind in ("session_start", "session_end"):
        ids = [e["id"] for e in events if e["ev"] == kind]
        sids = [e["sid"] for e in events if e["ev"] == kind]
        assert len(set(ids)) == len(set(sids))  # no session under two ids
    world = json.load(open(os.path.join(state, "world.json")))
    delivered_wh = sum(world["true_mwh"]) / 1000
    billed_wh = sum(r["wh"] for r in ends.values())
    cuts = sum(1 for e in events if e["ev"] == "power" and e["on"])
    bound_wh = cuts * 10 * MAX_PORT_W * CHECKPOINT_S / 3600
    print("campaign: %d kills at flash operations (%d in a boot, %d tearing a write),"
          " %d power-ups, in %.0f s, %d sessions, delivered %.1f Wh,"
          " billed %.1f Wh, unbilled %.1f Wh = %.2f Wh per cut (bound %.1f)"
          % (kills, boot_kills, torn, cuts, time.time() - t0, len(ends), delivered_wh, billed_wh,
             delivered_wh - billed_wh, (delivered_wh - billed_wh) / max(cuts, 1),
             bound_wh / max(cuts, 1)))
    assert billed_wh <= delivered_wh + 0.05  # reported wh is floored to 0.1
    assert delivered_wh - billed_wh <= bound_wh + 0.1 * len(ends)
    reasons = {r["reason"] for r in ends.values()}
    assert reasons <= {"full", "time_limit", "energy_limit", "money_limit", "unplugged",
                       "estop", "no_load"}, reasons
