"""tools/dashboard_shot.py (make dashboard-shot): the README's picture of the staff
dashboard, made headless from a real broker, the monitor and the simulated cabinet, into a
temp dir; nothing it started is left running."""

import os
import re
import shutil
import subprocess
import time

from mpy import ROOT
from PIL import Image

PY = os.path.join(ROOT, ".venv", "bin", "python")
HAVE_BROKER = bool(shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")
                   or os.path.exists(os.path.join(ROOT, ".venv", "bin", "amqtt")))


def _left_running():
    out = subprocess.run(["pgrep", "-f", "ebike-shot-"], capture_output=True, text=True).stdout
    return [pid for pid in out.split() if int(pid) != os.getpid()]


def test_dashboard_shot_writes_svg_and_png(tmp_path):
    assert HAVE_BROKER, "neither mosquitto nor amqtt is installed: run `make test` (installs it)"
    t0 = time.monotonic()
    p = subprocess.run([PY, "tools/dashboard_shot.py", "--out", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=90)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stdout + p.stderr
    assert "firmware frozen at 1:32:" in p.stdout, p.stdout

    text = (tmp_path / "dashboard.svg").read_text(encoding="utf-8").replace("&#160;", " ")
    assert text.startswith("<svg")
    for s in ("UNACKNOWLEDGED CRITICAL", "connected", "sim-001", "online", "charging",
              "locked", "last: energy_limit", "overpower", "port_locked", "Alarms"):
        assert s in text, s
    # port 6's overcurrent trip and lock, cleared by the unlock at 09:10:00: one row each
    # (the clear folded in); the trip still wants an acknowledgement, counted once
    assert text.count("cleared 09:10:00") == 2 and ">cleared<" not in text
    assert ">2 UNACKNOWLEDGED CRITICAL |" in text
    # port 4 ended at its 200 Wh limit: its session_end totals, not the last telemetry's
    assert re.search(r"> 200\.0 </text><text[^>]*> 26 ", text)
    # a charging port's row: its session id, timer (h:mm:ss), and power in W
    assert "> sim-001-1-2 <" in text
    assert re.search(r"> 1:\d\d:\d\d <", text)
    assert re.search(r"> 1[5-9]\d </text>", text), "no charging power figure"
    # the event feed: the day's sessions so far, newest first, in the cabinet's time, with
    # how each started and how each ended (port 4 ended at 09:16:49 after 1:06:39 charging)
    assert "Events (newest first)" in text
    assert re.search(r"> 09:16:49 </text><text[^>]*> sim-001 </text><text[^>]*> "
                     r"port 4 ended: energy_limit, 200\.0 Wh, 26 fen, 1:06:39 <", text)
    for s in ("port 1 started (card, full)", "port 2 started (remote, 240 min, order QR-1001)",
              "port 6 ended: overcurrent, 0.0 Wh, 0 fen, 0:00:00", "online (fw "):
        assert s in text, s
    assert text.index("port 5 ended: overpower") < text.index("port 1 started")

    png = tmp_path / "dashboard.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        w, h = im.size
        assert 1200 <= w <= 2400 and 600 <= h <= 1400, im.size
        assert len(im.getcolors(1 << 16) or range(1 << 16)) > 8  # not a blank image

    assert not _left_running(), "the broker or the firmware was left running"
    print("dashboard shot in %.1f s" % took)
