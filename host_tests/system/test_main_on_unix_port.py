"""boot.py, main.py and the real-board factory on the MicroPython unix port.

The fake `machine` (tools/sim) is first on the path and the virtual clock drives time:
the pin map from config becomes drivers on machine.* exactly as on the ESP32, with
HLW8032 emulators behind the RX mux on the configured pins and a 74HC595 chain model
driving relay contacts.
"""

import json
import os

from mpy import device_code, run_mpy

RIG = device_code(__file__, "rig.py")


def test_boot_py_turns_every_relay_off_first():
    out = run_mpy(RIG + r'''
import os
exec(open("boot.py").read())
print("oe", machine.Pin.level(P["relay_oe"]), "coils", sum(c.energised for c in contacts))
''')
    # /OE driven high: the chain's power-up garbage (0xFFFF) reaches no coil.
    assert "oe 1 coils 0" in out, out


def test_main_builds_the_real_board_and_charges_a_port(tmp_path):
    cfg = {"cabinet_id": "cab-t", "ports": 10}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    state = str(tmp_path / "state")
    out = run_mpy(RIG + r'''
import main
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("problems", problems)
print("coils_after_build", sum(c.energised for c in contacts))
print("start", app.start(0, "remote", {"minutes": 2}))
main.run(cab, max_ticks=9000)  # 180 s of 20 ms ticks
ends = [e for e in events if e["ev"] == "session_end"]
print("end", ends[0]["reason"], ends[0]["charge_s"], ends[0]["wh"])
print("sweep", board.meters.sweep_ms)
print("records", app.persist.outbox.pending)
''' % (str(tmp_path / "config.json"), state))
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)
    assert lines["coils_after_build"] == "0"
    assert lines["start"] == "None"
    reason, charge_s, wh = lines["end"].split()
    # 2 minutes bought, 180 W: time_limit with charge_s 120 and ~6 Wh through the real
    # HLW8032 scanner path (frames at 4800 8E1 via the 74HC4067 on the configured pins).
    assert reason == "time_limit" and int(charge_s) == 120
    assert 5.8 <= float(wh) <= 6.2, wh
    assert 500 <= int(lines["sweep"]) <= 1300
    assert int(lines["records"]) >= 2  # session_start and session_end queued for the uplink
    assert os.path.exists(os.path.join(state, "outbox.log"))


def test_main_with_a_bad_config_falls_back_and_alarms(tmp_path):
    (tmp_path / "config.json").write_text('{"ports": 99, "full_w": "thirty"}')
    out = run_mpy(RIG + r'''
import main
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("ports", cfg["ports"], "full_w", cfg["full_w"])
print("alarms", sorted(set(e["code"] for e in events if e["ev"] == "alarm")))
for p in problems:
    print("problem", p)
''' % (str(tmp_path / "config.json"), str(tmp_path / "state")))
    assert "ports 10 full_w 30" in out
    assert "config_invalid" in out
    assert "problem ports: 99 is out of range 1-16" in out
    assert "problem full_w: 'thirty' is not a number" in out


def test_missing_config_boots_on_defaults_with_an_alarm(tmp_path):
    out = run_mpy(RIG + r'''
import main
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("cab", cfg["cabinet_id"],
      [e["value"] for e in events if e["ev"] == "alarm" and e["code"] == "config_invalid"])
''' % (str(tmp_path / "none.json"), str(tmp_path / "state")))
    assert "cab sim-001" in out and "missing (using defaults)" in out


def test_boot_loop_and_service_button_enter_safe_mode(tmp_path):
    state = str(tmp_path / "state")
    code = RIG + r'''
machine.RESET_CAUSE[0] = %d
import main
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("safe", cab.safe, "coils", sum(c.energised for c in contacts))
'''
    # a power-up, then four crash resets (machine.HARD_RESET) before running stably
    outs = [run_mpy(code % (cause, str(tmp_path / "none.json"), state))
            for cause in (1, 2, 2, 2, 2)]
    assert [("safe True" in o) for o in outs] == [False, False, False, True, True]
    assert all("coils 0" in o for o in outs)
    held = run_mpy(RIG + r'''
machine.Pin.drive(P["service"], 0)
import main
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("safe", cab.safe, problems[-1])
''' % (str(tmp_path / "none.json"), str(tmp_path / "state2")))
    assert "safe True safe mode: service button held" in held


def test_garbage_config_and_torn_journal_boot_safe_with_alarms(tmp_path):
    # A config file of garbage bytes and a port journal whose both copies are corrupt:
    # the cabinet boots on defaults, raises config_invalid and storage_fault, the port
    # comes back idle and no relay is energised.
    (tmp_path / "config.json").write_bytes(b"\x00\xff{not json")
    state = tmp_path / "state"
    state.mkdir()
    (state / "port3.a").write_bytes(b"deadbeef 7 {\"v\": 1, \"state\": \"charging\"}\n")
    (state / "port3.b").write_bytes(b"\x13\x37garbage")
    out = run_mpy(RIG + r'''
import main
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("alarms", sorted(set(e["code"] for e in events if e["ev"] == "alarm")))
print("port3", app.port_state(3), app.session(3), "coils", sum(c.energised for c in contacts))
''' % (str(tmp_path / "config.json"), str(state)))
    assert "'config_invalid'" in out and "'storage_fault'" in out, out
    assert "port3 idle None coils 0" in out, out


def test_main_on_wifi_reaches_a_real_broker_and_takes_a_signed_start(tmp_path):
    # main.run on the unix port: WiFi (fake network module, virtual radio) comes up, the
    # uplink connects to a real mosquitto, the retained birth arrives, and a signed
    # `start` from the "server" opens port 0.
    from mqttkit import Mosquitto, Server

    broker = Mosquitto(tmp_path)
    srv = Server(broker.port)
    try:
        cfg = {"ports": 10, "mqtt_host": "127.0.0.1",  # cabinet sim-001, the test key
               "mqtt_port": broker.port, "wifi_ssid": "estate", "wifi_password": "secret"}
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        state = str(tmp_path / "state")
        code = RIG + r'''
import network, main
network.WORLD.aps = {"estate": {"key": "secret", "rssi": -58}}
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
import time
_sleep = CLOCK.sleep_ms
def paced(ms):  # the loop keeps wall-clock pace so the broker's answers can arrive
    _sleep(ms)
    time.sleep_ms(ms)
CLOCK.sleep_ms = paced
main.run(cab, max_ticks=300, network=network)  # 6 s
print("session", app.session(0) is not None and app.session(0).auth)
''' % (str(tmp_path / "config.json"), state)
        import subprocess
        import threading

        from mpy import MICROPYTHON, PRELUDE, ROOT
        path = tmp_path / "prog.py"
        path.write_text(PRELUDE + code)
        p = subprocess.Popen([MICROPYTHON, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        birth = srv.wait("status", lambda o: o.get("online") is True, 30)
        assert birth["ports"] == 10
        # signed for the cabinet's (virtual) wall clock, which starts 2025-11-27 00:00 UTC
        threading.Timer(0.2, lambda: srv.command({"op": "start", "port": 0,
                                                  "limit": {"minutes": 30}},
                                                 now=1764201600)).start()
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err + out
        assert "session remote" in out, out
        assert srv.wait("reply", lambda o: o.get("ok") is True, 10)
    finally:
        srv.close()
        broker.stop()
