"""Run a scenario through tools/sim/run.py on the MicroPython unix port; return its log."""

import json
import os
import subprocess
import tempfile

from mpy import MICROPYTHON, ROOT

RUN = os.path.join(ROOT, "tools", "sim", "run.py")


def run_scenario(scenario, timeout_s=600, extra=()):
    """Returns (events, stderr). Raises AssertionError when the run fails."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "scenario.json")
        log = os.path.join(d, "log.jsonl")
        with open(path, "w") as f:
            json.dump(scenario, f)
        p = subprocess.run([MICROPYTHON, RUN, path, "--log", log] + list(extra), cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout_s)
        if p.returncode != 0:
            raise AssertionError("run.py exit %d: %s" % (p.returncode, p.stderr[-3000:]))
        with open(log) as f:
            events = [json.loads(line) for line in f if line.strip()]
    return events, p.stderr


def of(events, kind, **match):
    return [e for e in events if e["ev"] == kind and all(e.get(k) == v for k, v in match.items())]


def one(events, kind, **match):
    found = of(events, kind, **match)
    assert len(found) == 1, "want one %s %s, got %d: %s" % (kind, match, len(found), found[:5])
    return found[0]


def relay_times(events, port, on):
    return [e["t"] for e in of(events, "relay", port=port, on=on)]
