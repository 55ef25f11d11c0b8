"""main.py's network and boot paths on the unix port, on the hostile virtual board.

The rig of test_main_on_unix_port.py (fake machine first on the path, HLW8032 emulators
behind the RX mux, the 74HC595 relay chain) with the virtual lwIP (tools/sim/vsocket.py)
in place of `socket`: a blocking getaddrinfo() of a name costs 7-14 virtual seconds when
DNS does not answer, so a control loop that waits on it shows a long tick. The worst
control tick is the worst gap between two watchdog feeds (main.run feeds it in every
control tick, also inside the uplink's socket waits), on the virtual clock.
"""

import json
import re
import subprocess
import threading

from mpy import MICROPYTHON, PRELUDE, ROOT, device_code, run_mpy
from mqttkit import Mosquitto, Server, free_port

RIG = device_code(__file__, "rig.py")  # the virtual board of test_main_on_unix_port.py
START_EPOCH = 1764201600  # the virtual world's time at the start (vclock.START_EPOCH)
PACED = r'''
import time
_sleep = CLOCK.sleep_ms
def paced(ms):  # the loop keeps wall-clock pace so a real broker's answers can arrive
    _sleep(ms)
    time.sleep_ms(ms)
CLOCK.sleep_ms = paced
'''


def _lines(out):
    return dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)


def _write_cfg(tmp_path, **cfg):
    base = {"ports": 10, "wifi_ssid": "estate", "wifi_password": "secret",
            "backlog_delay_s": 0}
    base.update(cfg)
    (tmp_path / "config.json").write_text(json.dumps(base))
    return str(tmp_path / "config.json"), str(tmp_path / "state")


def test_dead_dns_costs_no_control_tick_and_ends_no_session(tmp_path):
    # The broker and the NTP server are given by name (as provisioning does) and DNS never
    # answers, for 3 virtual minutes while four sessions charge.
    cfg, state = _write_cfg(tmp_path, mqtt_host="mqtt.example.cn", mqtt_port=free_port())
    out = run_mpy(RIG + r'''
import network, main
network.WORLD.aps = {"estate": {"key": "secret", "rssi": -58}}
vsocket.WORLD.names = {"mqtt.example.cn": "127.0.0.1", "ntp.aliyun.com": "203.107.6.88"}
vsocket.WORLD.stall(0, 10 ** 15)  # no DNS answer, ever
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
for p in range(4):
    assert app.start(p, "remote", {"minutes": 60}) is None
main.run(cab, max_ticks=9000, network=network)  # 180 s
ends = [e for e in events if e["ev"] == "session_end"]
print("worst_tick_ms", machine.WDT.last.worst_gap_ms)
print("budget_ms", main.TICK_BUDGET_MS)
print("ends", len(ends))
print("charging", sum(1 for p in range(4) if app.port_state(p) == "charging"))
print("link_up", cab.net.link.isconnected())
print("dns_unanswered", vsocket.WORLD.unanswered)
print("blocked_ms", vsocket.WORLD.blocked_ms)
print("connects", cab.net.uplink.connects)
print("virtual_s", CLOCK.us // 1000000)
''' % (cfg, state))
    got = _lines(out)
    print("dead DNS: worst control tick %s ms (budget %s ms) over %s virtual s"
          % (got["worst_tick_ms"], got["budget_ms"], got["virtual_s"]))
    assert got["link_up"] == "True"
    assert int(got["dns_unanswered"]) >= 6, got  # broker and NTP queries, re-sent
    assert got["blocked_ms"] == "0", got  # nobody called the blocking getaddrinfo()
    assert got["connects"] == "0"
    assert int(got["worst_tick_ms"]) <= int(got["budget_ms"]), got
    assert got["ends"] == "0" and got["charging"] == "4", got


def test_ntp_sets_the_clock_after_a_power_up_and_records_get_true_times(tmp_path):
    cfg, state = _write_cfg(tmp_path, mqtt_port=free_port(),
                            tou_fen_per_kwh=[40] * 16 + [90] * 32)
    out = run_mpy(RIG + r'''
import network, main, json
CLOCK.power_up()  # mains back: ticks at their start, the RTC at 2000-01-01
machine.RESET_CAUSE[0] = machine.PWRON_RESET
network.WORLD.aps = {"estate": {"key": "secret", "rssi": -58}}
vsocket.WORLD.names = {"ntp.aliyun.com": "203.107.6.88"}
events = []
cab = main.build(%r, %r, clock=CLOCK, emit=events.append)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("before", CLOCK.time())
assert app.start(0, "remote", {"minutes": 60}) is None
s = app.session(0)
raw = [ln[ln.index(b"{"):].strip() for ln in open(%r + "/outbox.log", "rb")
       if b" session_start " in ln][0]
print("raw", raw.decode())
print("held", app.wall.restamp(raw))
main.run(cab, max_ticks=500, network=network)  # 10 s
print("after", CLOCK.time(), "world", CLOCK.world_time())
print("wire", app.wall.restamp(raw))
print("synced", app.wall.synced)
''' % (cfg, state, state))
    got = _lines(out)
    assert int(got["before"]) < 1000000000  # 2000-01-01 plus a second or two
    after, world = re.match(r"(\d+) world (\d+)", got["after"]).groups()
    assert abs(int(after) - int(world)) <= 1 and got["synced"] == "True"
    raw = json.loads(got["raw"])
    assert raw["start"] < 1000000000 and raw["_pu"] >= 1  # tagged: made before the clock
    assert got["held"] == "None"  # not sent while the clock is unknown
    assert got["wire"].startswith("b'{"), got  # sent once the clock is known
    wire = json.loads(got["wire"][2:-1])
    assert "_pu" not in wire
    assert START_EPOCH <= wire["start"] <= START_EPOCH + 2, wire  # the true start time


def test_ppp_cabinet_comes_online_through_the_modem(tmp_path):
    broker = Mosquitto(tmp_path)
    srv = Server(broker.port)
    try:
        cfg, state = _write_cfg(tmp_path, net="ppp", ppp_apn="cmiot",
                                mqtt_port=broker.port,
                                pins={"modem_tx": 17, "modem_rx": 35, "door": None})
        out = run_mpy(RIG + r'''
import network, main
from modem import Modem
modem = Modem()
machine.UART._sources[1] = modem
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
''' % (cfg, state) + PACED + r'''
main.run(cab, max_ticks=400, network=network)  # 8 s
u = cab.net.link.uart
print("uart", u.id, u.tx, u.rx, u.baudrate)
print("chat", [c.decode().strip() for c in modem.commands])
print("ppp_up", cab.net.link.isconnected(), "connects", cab.net.uplink.connects)
''')
        got = _lines(out)
        assert got["uart"] == "1 17 35 115200", got
        assert got["chat"] == ("['AT', 'ATE0', 'AT+CGDCONT=1,\"IP\",\"cmiot\"', "
                               "'ATD*99#']"), got
        assert got["ppp_up"] == "True connects 1", got
        birth = srv.wait("status", lambda o: o.get("online") is True, 10)
        assert birth["cabinet"] == "sim-001"
    finally:
        srv.close()
        broker.stop()


BOOT = RIG + r'''
machine.RESET_CAUSE[0] = %d
import main
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("safe", cab.safe, "coils", sum(c.energised for c in contacts))
if not cab.safe:
    main.run(cab, max_ticks=%d)  # power lost before STABLE_MS
'''


def test_a_burst_of_power_ups_is_not_a_crash_loop(tmp_path):
    # A grid recloser: five power-ups within four minutes, each run cut after ~40 s
    # (long before bootguard.STABLE_MS): no safe mode. Then three crash resets in a
    # row (machine.HARD_RESET, WDT_RESET) do enter it.
    cfg, state = _write_cfg(tmp_path, net="none")
    outs = [run_mpy(BOOT % (1, cfg, state, 2000)) for _ in range(5)]
    assert all("safe False coils 0" in o for o in outs), outs
    crashes = [run_mpy(BOOT % (cause, cfg, state, 50)) for cause in (2, 3, 2)]
    assert ["safe True" in o for o in crashes] == [False, False, True], crashes
    assert all("coils 0" in o for o in crashes)


def test_crash_loop_safe_mode_sends_its_alarm_and_takes_unlock_and_reboot(tmp_path):
    broker = Mosquitto(tmp_path)
    srv = Server(broker.port)
    try:
        cfg, state = _write_cfg(tmp_path, mqtt_port=broker.port)
        for cause in (1, 2, 2):  # a power-up, then two crashes: not yet safe mode
            assert "safe False" in run_mpy(BOOT % (cause, cfg, state, 5))
        code = RIG + r'''
machine.RESET_CAUSE[0] = machine.WDT_RESET  # the third crash in a row
import network, main
network.WORLD.aps = {"estate": {"key": "secret", "rssi": -58}}
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("safe", cab.safe, cab.why)
''' % (cfg, state) + PACED + r'''
try:
    main.run_safe(cab, max_ticks=3000, network=network)  # <= 60 s
    print("no reset")
except SystemExit as e:
    print("reset", e)
print("coils", sum(c.energised for c in contacts))
'''
        path = tmp_path / "safe.py"
        path.write_text(PRELUDE + code)
        p = subprocess.Popen([MICROPYTHON, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            alarm = srv.wait("alarm", lambda o: o.get("code") == "safe_mode", 30)
            assert alarm["level"] == "critical" and "crashed" in alarm["value"]
            assert START_EPOCH <= alarm["t"] < START_EPOCH + 600
            assert [o for o in srv.of("status") if o.get("online") is True]  # the birth
            srv.drain()
            jti = srv.command({"op": "status"}, now=START_EPOCH)
            assert srv.wait("reply", lambda o: o.get("jti") == jti, 10)["ok"] is True
            telemetry = srv.wait("telemetry", lambda o: o.get("full") is True, 10)
            assert {x["s"] for x in telemetry["ports"]} == {"fault"}
            jti = srv.command({"op": "start", "port": 0, "limit": {"minutes": 5}},
                              now=START_EPOCH)
            r = srv.wait("reply", lambda o: o.get("jti") == jti, 10)
            assert r["ok"] is False and r["error"] == "port_fault"  # relays stay off
            jti = srv.command({"op": "unlock", "port": 0}, now=START_EPOCH)
            assert srv.wait("reply", lambda o: o.get("jti") == jti, 10)["ok"] is True
            threading.Timer(0.5, lambda: srv.command({"op": "reboot"},
                                                     now=START_EPOCH)).start()
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        assert "reset machine.reset" in out and "coils 0" in out, out + err
        # unlock cleared the guard and reboot was planned: the next boot runs normally
        nxt = run_mpy(BOOT % (2, cfg, state, 5))
        assert "safe False" in nxt, nxt
    finally:
        srv.close()
        broker.stop()


def test_safe_mode_clears_itself_after_a_stable_period_not_after_the_service_button(tmp_path):
    cfg, state = _write_cfg(tmp_path, net="none")
    for cause in (1, 2, 2):
        run_mpy(BOOT % (cause, cfg, state, 5))
    out = run_mpy(RIG + r'''
machine.RESET_CAUSE[0] = machine.HARD_RESET
import main
from firmware.system import bootguard
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
print("safe", cab.safe)
t0 = CLOCK.us
try:
    main.run_safe(cab, max_ticks=200000)
    print("no reset")
except SystemExit as e:
    print("reset_after_s", (CLOCK.us - t0) // 1000000)
print("coils", sum(c.energised for c in contacts))
''' % (cfg, state))
    got = _lines(out)
    assert got["safe"] == "True" and got["coils"] == "0", out
    assert int(got["reset_after_s"]) == 1800, out  # bootguard.SAFE_CLEAR_MS
    assert "safe False" in run_mpy(BOOT % (2, cfg, state, 5))  # cleared
    held = run_mpy(RIG + r'''
machine.Pin.drive(P["service"], 0)
import main
cab = main.build(%r, %r, clock=CLOCK)
app, board, cfg, problems = cab.app, cab.board, cab.cfg, cab.problems
main.run_safe(cab, max_ticks=100000)  # 2000 s: no restart
print("still_safe", cab.safe)
''' % (cfg, state + "2"))
    assert "still_safe True" in held, held
