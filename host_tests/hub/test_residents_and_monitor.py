"""Residents at the simulated cabinet, and the staff monitor fed by it.

The simulator runs the real front panel: a `swipe` holds the card to the virtual MFRC522
(register-level model) read by the real driver, `keys` press the virtual 3x4 keypad read
by the real keypad driver, and the resident flow (firmware/panel/resident.py) decides. With no
server connected, authorisation falls back to the offline card list at once.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

from scenkit import cmd, scenario
from simrun import of, one, run_scenario

CARD = "04A1B2C3"


def scen(events, duration_s=120):
    return scenario([cmd(1, "cards", add=[CARD])] + events, ports=4, duration_s=duration_s)


def test_swipe_and_keypad_start_the_chosen_port():
    # Swipe at 10 s, then "3", "#" (choose port 3, inside: 2), "#" (confirm): 3 presses
    # of 0.6 s, 0.3 s apart; the offline list says yes; the session opens on port 2.
    ev, _ = run_scenario(scen([
        {"t": 5, "port": 2, "plug": {"model": "lithium_48v_4a", "soc": 0.5}},
        {"t": 10, "swipe": {"card": CARD}}, {"t": 11, "keys": "3##"}]))
    s = one(ev, "session_start")
    assert s["port"] == 2 and s["auth"] == "card:" + CARD
    assert 12 <= s["t"] <= 15, s["t"]


def test_a_card_not_on_the_list_starts_nothing():
    ev, _ = run_scenario(scen([{"t": 10, "swipe": {"card": "DEADBEEF"}},
                               {"t": 11, "keys": "1##"}]))
    assert not of(ev, "session_start")


def test_a_locked_port_is_refused_and_the_same_card_stops_its_session():
    # Port 0 trips (heater) and locks: choosing it is refused before anything starts.
    # The card then starts port 1, and a second swipe of it stops that session.
    ev, _ = run_scenario(scen([
        {"t": 2, "port": 0, "plug": {"model": "heater_1500w"}},
        {"t": 3, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}},
        {"t": 20, "swipe": {"card": CARD}}, {"t": 21, "keys": "1##"},
        {"t": 40, "swipe": {"card": CARD, "port": 1}},
        {"t": 70, "swipe": {"card": CARD}}], duration_s=90))
    starts = of(ev, "session_start")
    assert [(s["port"], s["auth"]) for s in starts] == [(0, "remote"), (1, "card:" + CARD)]
    end = one(ev, "session_end", port=1)
    assert end["reason"] == "user_stop" and 70 <= end["t"] <= 72


def test_screens_are_written_as_png(tmp_path):
    from PIL import Image

    d = tmp_path / "screens"
    run_scenario(scen([{"t": 5, "port": 2, "plug": {"model": "lithium_48v_4a", "soc": 0.5}},
                       {"t": 10, "swipe": {"card": CARD}}, {"t": 11, "keys": "3##"}],
                      duration_s=30), extra=["--screens", str(d)])
    names = sorted(os.listdir(d))
    kinds = {n.split("_")[1] for n in names}
    assert {"idle", "grid", "msg"} <= kinds, names  # the flow's result screen among them
    for n in names:
        im = Image.open(d / n)
        assert im.size == (512, 256)


def test_monitor_fed_by_the_simulated_cabinet_shows_a_trip_within_2_s(tmp_path):
    from mpy import MICROPYTHON, ROOT
    from mqttkit import Mosquitto

    sys.path.insert(0, ROOT)
    from tools.monitor.app import MonitorApp
    from tools.monitor.model import Model

    broker = Mosquitto(tmp_path)
    scenario = {"cabinet": {"ports": 4}, "duration_s": 40, "events": [
        {"t": 1, "port": 1, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        {"t": 2, "cmd": {"op": "start", "port": 1, "limit": {"full": True}}},
        {"t": 20, "port": 1, "fault": "short"}]}
    path, log = tmp_path / "s.json", tmp_path / "log.jsonl"
    path.write_text(json.dumps(scenario))
    sim = subprocess.Popen([MICROPYTHON, "tools/sim/run.py", str(path), "--broker",
                            "127.0.0.1:%d" % broker.port, "--speed", "1", "--log", str(log)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    model = Model("ebike", "*")
    app = MonitorApp(model, ("127.0.0.1", broker.port))
    result = {}

    def tripped_at():
        if log.exists():
            for line in log.read_text().splitlines():
                if '"overcurrent"' in line and '"alarm"' in line:
                    return True
        return False

    async def watch():
        async with app.run_test(size=(150, 40)):
            deadline = time.monotonic() + 120  # the fault is at 20 s, at speed 1
            while not tripped_at():
                assert sim.poll() is None, sim.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the cabinet never tripped"
                await asyncio.sleep(0.02)
            t0 = time.monotonic()
            while "overcurrent" not in app.export_screenshot():
                assert time.monotonic() - t0 < 5, "the alarm never showed"
                await asyncio.sleep(0.02)
            result["latency_s"] = time.monotonic() - t0

    try:
        asyncio.run(watch())
    finally:
        sim.kill()
        sim.wait()
        broker.stop()
    print("monitor shows the trip %.0f ms after the cabinet logged it"
          % (result["latency_s"] * 1000))
    assert result["latency_s"] < 2.0
