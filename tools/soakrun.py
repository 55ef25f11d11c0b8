"""Run the soak: weeks of a busy cabinet on the real simulator and a real broker, checked.

    .venv/bin/python tools/soakrun.py [--days 8] [--seed 1] [--from-day A --to-day B]
                                   [--keep DIR]

Builds the scenario and its plan (tools/sim/soak.py), starts mosquitto on a free loopback
port and a subscriber that plays the operator's server (host_tests/kit/mqttkit.py: it
validates every message against the protocol's schemas), runs tools/sim/run.py on the
MicroPython unix port against that broker, then checks the event log and the records the
broker delivered. Prints one JSON line of figures and a FAIL line per broken expectation;
exit status 1 when there is one. --keep DIR keeps the scenario, plan, log and wire there.
docs/soak.md says what the soak covers. CPython host tool.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "host_tests", "kit"), os.path.join(ROOT, "tools", "sim"), ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import mqttkit  # noqa: E402  # pyright: ignore[reportMissingImports]
import soak  # noqa: E402  # pyright: ignore[reportMissingImports]

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
RUN = os.path.join(ROOT, "tools", "sim", "run.py")
PANEL_IDLE_MS = 60000  # the front panel once a virtual minute while nobody is at it
SETTLE_S = 10  # wall time for the last records to reach the subscriber
# run.py holds the whole scenario (~500 events a day) besides the world and the firmware:
# the unix port's default heap is too small for weeks of it (30 days: ~3.3 MB live).
HEAP = "-X", "heapsize=16M"


def run(days=8, seed=1, from_day=0, to_day=None, keep=None, timeout_s=7200):
    """(report, paths). report: soak.check's figures plus wall_s and speed."""
    d = keep or tempfile.mkdtemp(prefix="soak-")
    os.makedirs(d, exist_ok=True)
    sc, plan = soak.build(days, seed, from_day=from_day, to_day=to_day)
    paths = {k: os.path.join(d, "soak." + k) for k in ("json", "plan", "jsonl", "wire")}
    with open(paths["json"], "w") as f:
        json.dump(sc, f)
    with open(paths["plan"], "w") as f:
        json.dump(plan, f)
    state = os.path.join(d, "state")
    shutil.rmtree(state, ignore_errors=True)  # a fresh cabinet (--keep DIR reused)
    broker = mqttkit.Mosquitto(d)
    srv = mqttkit.Server(broker.port, client_id="soak-server")
    try:
        t0 = time.time()
        p = subprocess.run([MICROPYTHON, *HEAP, RUN, paths["json"], "--log", paths["jsonl"],
                            "--broker", "127.0.0.1:%d" % broker.port,
                            "--state", state,
                            "--panel-idle-ms", str(PANEL_IDLE_MS)],
                           cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        wall_s = time.time() - t0
        if p.returncode != 0:
            raise AssertionError("run.py exit %d: %s" % (p.returncode, p.stderr[-3000:]))
        events = soak.read_jsonl(paths["jsonl"])
        want = sum(1 for e in events if e["ev"] in ("session_start", "session_end", "alarm"))
        end = time.time() + SETTLE_S
        while time.time() < end and len(_wire(srv)) < want:
            time.sleep(0.2)
        wire = _wire(srv)
        bad = list(srv.bad)
    finally:
        srv.close()
        broker.stop()
    with open(paths["wire"], "w") as f:
        for rec in wire:
            f.write(json.dumps(rec) + "\n")
    rep = soak.check(plan, events, wire)
    for topic, payload, err in bad[:10]:
        rep["failures"].append("%s: %s fails its schema: %s" % (topic, payload, err))
    virtual_s = sc["duration_s"]
    rep["wall_s"] = round(wall_s, 1)
    rep["speed"] = round(virtual_s / wall_s) if wall_s else None
    rep["events"] = len(events)
    return rep, paths


def _wire(srv):
    return [m[2] for m in list(srv.msgs) if m[1] in ("event", "alarm") and isinstance(m[2], dict)]


def main(argv):
    opts = {"--days": "8", "--seed": "1", "--from-day": "0", "--to-day": None, "--keep": None}
    i = 0
    while i < len(argv):
        if argv[i] not in opts or i + 1 >= len(argv):
            sys.stderr.write(__doc__ or "")
            return 2
        opts[argv[i]] = argv[i + 1]
        i += 2
    to_day = None if opts["--to-day"] is None else int(opts["--to-day"])
    rep, paths = run(int(opts["--days"]), int(opts["--seed"]), int(opts["--from-day"]),
                     to_day, opts["--keep"])
    for line in rep["failures"]:
        print("FAIL", line)
    n = len(rep["failures"])
    rep["failures"] = n
    print(json.dumps(rep))
    if rep["skipped"]:
        print("soak: NOT EXERCISED (simulator events not merged yet): %s"
              % ", ".join(rep["skipped"]))
    if opts["--keep"]:
        print("soak: kept %s" % ", ".join(sorted(paths.values())))
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
