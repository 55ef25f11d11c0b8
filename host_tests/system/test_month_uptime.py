# Weeks of uptime: the whole firmware core past the ESP32's 2**29 ms ticks_diff limit
# (issue 11, item 1). tools/sim/uptime.py runs App + journal + outbox, the front panel
# with the real MFRC522/keypad drivers, and Cloud for signed commands on the virtual board
# (ticks wrap at 2**30 ms, 600 s after the start), with sessions placed where a tick
# stored at boot would be 6.2-12.4 days old: a card swipe (day 0 and the same card at
# day 6.3), a welded relay on a never-switched port (day 7), remote starts (days 12.5,
# 18.7, 25) and a reboot command (day 18.75). Each must start within 15 s of its command
# and end `time_limit` with exactly its charge_s. `make test`: 13 virtual days;
# FULL=1: 30 (about 2-3 min on the unix port; make bench has the figure).
import json
import subprocess

from conftest import FULL
from mpy import MICROPYTHON, ROOT

DAYS = 30 if FULL else 13
START_WITHIN_S = 15


def run_uptime(days):
    p = subprocess.run([MICROPYTHON, "tools/sim/uptime.py", str(days)], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_sessions_weld_and_reboot_work_for_weeks_past_the_ticks_limit():
    r = run_uptime(DAYS)
    sessions = r["sessions"]
    days = [s["day"] for s in sessions]
    assert days == ([0.003, 6.3, 12.5, 18.7, 25.0] if FULL else [0.003, 6.3, 12.5]), r
    for s in sessions:
        where = "session on port %d at day %s: %s" % (s["port"], s["day"], s)
        assert s["starts"] == 1 and s["ends"] == 1, where
        assert s["auth"] == s["auth_want"], where
        assert s.get("relay_on_after_s") is not None, where
        assert s["relay_on_after_s"] <= START_WITHIN_S, where
        assert s["reason"] == "time_limit", where
        assert s["charge_s"] == s["charge_s_want"], where
        assert s["wh"] > 0, where
    assert r["weld_after_s"] is not None and r["weld_after_s"] <= START_WITHIN_S, r
    assert r["wraps"] == (3 if FULL else 2), r  # 600 s in, then every 12.43 days
    if FULL:
        assert r["reboot_after_s"] is not None and r["reboot_after_s"] <= START_WITHIN_S, r
        assert r["reboots"] == 1, r
    else:
        assert r["reboots"] == 0, r
