"""`make bench`: run every benchmark on the MicroPython unix port, print one table.

Each bench script prints `name value unit` lines; this collects them and shows each
figure beside its target. CPython host tool.
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
SCRIPTS = ("tools/bench/bench_hlw.py", "tools/bench/bench_control.py")
TARGETS = {
    "hlw_frames_per_s": ">= 1000 (10 ports x ~18 frames/s on the wire, with margin)",
    "hlw_heap_bytes_per_frame": "0",
    "control_us_per_port_tick": "<= 100 us (10 ports in 1 ms of a 20 ms tick)",
    "control_heap_bytes_per_tick": "0",
    "busy_day_24h_10port_wall": "<= 60 s",
}


def run(script):
    t0 = time.time()
    p = subprocess.run([MICROPYTHON, script], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    rows = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    if p.returncode != 0:
        rows.append((os.path.basename(script), "FAILED", p.stderr.strip().splitlines()[-1:]))
    return rows, time.time() - t0


def main():
    print("%-34s %14s  %-12s %s" % ("figure", "value", "unit", "target"))
    print("-" * 100)
    failed = False
    for script in SCRIPTS:
        if not os.path.exists(os.path.join(ROOT, script)):
            continue
        rows, secs = run(script)
        for name, value, unit in rows:
            failed |= value == "FAILED"
            print("%-34s %14s  %-12s %s" % (name, value, unit, TARGETS.get(name, "")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
