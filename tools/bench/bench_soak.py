"""The soak's wall time: N virtual days of a busy 10-port cabinet (default 8, the size
`make test` runs; SOAK_DAYS=30 for the `make test-full` size).

    .venv/bin/python tools/bench/bench_soak.py

tools/soakrun.py: tools/sim/run.py on the MicroPython unix port against a real mosquitto,
then the checker. Prints `name value unit` lines: wall time, virtual/wall speed and the
soak's own figures (sessions, records, duplicates on the wire, power-ups, ticks wraps,
worst start delay, failures). CPython host tool.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tools import soakrun  # noqa: E402


def main():
    days = int(os.environ.get("SOAK_DAYS", "8"))
    rep, _ = soakrun.run(days, seed=1)
    print("soak_days %d days" % days)
    print("soak_wall %.0f s" % rep["wall_s"])
    print("soak_speed %d x" % rep["speed"])
    print("soak_sessions %d sessions" % rep["sessions"])
    print("soak_records %d records" % rep["records"])
    print("soak_duplicates %d records" % rep.get("duplicates", -1))
    print("soak_boots %d power-ups" % rep["boots"])
    print("soak_ticks_wraps %d wraps" % rep["ticks_wraps"])
    print("soak_worst_start %.1f s" % rep["worst_start_s"])
    print("soak_failures %d failures" % len(rep["failures"]))
    for line in rep["failures"][:5]:
        sys.stderr.write("soak: %s\n" % line)
    return 1 if rep["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
