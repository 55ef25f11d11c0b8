"""Wall time of tools/sim/uptime.py: 30 virtual days of the firmware core on the
MicroPython unix port (host_tests/system/test_month_uptime.py checks what happens). Prints
`name value unit` lines. CPython host tool."""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


def main():
    t0 = time.monotonic()
    p = subprocess.run([MICROPYTHON, "tools/sim/uptime.py", "30"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-2000:])
        return 1
    r = json.loads(p.stdout.strip().splitlines()[-1])
    right = sum(1 for s in r["sessions"] if s.get("reason") == "time_limit"
                and s.get("charge_s") == s["charge_s_want"]
                and s.get("relay_on_after_s", 99) <= 15)
    print("uptime_30d_wall %.1f s" % wall)
    print("uptime_30d_control_ticks %d ticks" % r["ticks"])
    print("uptime_30d_sessions_right %d of %d" % (right, len(r["sessions"])))
    return 0 if right == len(r["sessions"]) == 5 else 1


if __name__ == "__main__":
    sys.exit(main())
