"""`make sim` (tools/demo.py): a local broker, the firmware on the unix port against it,
and a feed of what the duty room sees; Ctrl-C leaves nothing running."""

import json
import os
import signal
import subprocess
import sys
import time

from mpy import ROOT

PY = os.path.join(ROOT, ".venv", "bin", "python")


def _alive(workdir):
    out = subprocess.run(["pgrep", "-f", workdir], capture_output=True, text=True).stdout
    return [pid for pid in out.split() if int(pid) != os.getpid()]


def test_demo_headless_runs_a_day_through_the_broker(tmp_path):
    scen = tmp_path / "short.json"
    scen.write_text(json.dumps({"cabinet": {"ports": 2}, "duration_s": 200, "events": [
        {"t": 1, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.5}},
        {"t": 2, "cmd": {"op": "start", "port": 0, "limit": {"minutes": 2}}}]}))
    p = subprocess.run([PY, "tools/demo.py", "--headless", "--speed", "50", "--scenario",
                        str(scen)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert '"ev": "session_start"' in out and '"reason": "time_limit"' in out, out
    assert '"online": true' in out
    workdir = out.split("files in ")[1].split()[0]
    assert not _alive(workdir)


def test_ctrl_c_stops_broker_and_firmware(tmp_path):
    out_path = tmp_path / "demo.out"  # a file, not a pipe: the demo prints a lot
    with open(out_path, "w") as out:
        p = subprocess.Popen([PY, "tools/demo.py", "--headless"], cwd=ROOT, stdout=out,
                             stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 30
            while "files in" not in out_path.read_text():
                assert time.time() < deadline and p.poll() is None, out_path.read_text()
                time.sleep(0.1)
            workdir = out_path.read_text().split("files in ")[1].split()[0]
            time.sleep(3)
            assert _alive(workdir), "broker and firmware should be running"
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    time.sleep(0.5)
    assert not _alive(workdir), "left running after Ctrl-C"
    assert "demo: stopped broker and firmware" in out_path.read_text()


def test_speed_must_be_a_number_or_max():
    p = subprocess.run([sys.executable, "tools/demo.py", "--speed", "fast"], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--speed/SPEED: 'fast'" in p.stderr
