"""tools/monitor: the MQTT-to-model logic, the Textual UI headless against a real mosquitto
with a fake cabinet (paho), and the webhook forwarder against a local HTTP server.

The UI must show an overcurrent alarm within ALARM_SHOW_S of its publish: measured from
just before the fake cabinet's QoS 1 publish to the moment the alarm's text is in the
rendered screen (export_screenshot), so it includes broker, paho, model and drawing.
"""

import asyncio
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from tools.monitor.model import Model, parse_site, subscriptions
from tools.monitor.webhook import Forwarder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOSQUITTO = "/usr/sbin/mosquitto"
ALARM_SHOW_S = 2.0


def msg(model, topic, obj):
    return model.handle(topic, obj if isinstance(obj, bytes) else json.dumps(obj).encode())


def alarm(i, code="overcurrent", port=3, level="critical", state="raised", **kw):
    return dict({"id": "cab-1-a%d" % i, "code": code, "port": port, "level": level,
                 "state": state, "value": 7.9, "t": 1764201600 + i}, **kw)


# ------------------------------------------------------------------ model
def test_status_birth_will_and_retired_cabinet():
    m = Model()
    msg(m, "ebike/cab-1/status", {"online": True, "fw": "0.3", "ports": 4})
    c = m.cabinets["ebike/cab-1"]
    assert (c.online, c.fw, len(c.port_list())) == (True, "0.3", 4)
    msg(m, "ebike/cab-1/status", {"online": False})  # the last will
    assert c.online is False and c.fw == "0.3"
    m.handle("ebike/cab-1/status", b"")  # retained status cleared
    assert m.cabinets == {}


def test_telemetry_updates_ports_and_keeps_missing_fields():
    m = Model()
    msg(m, "ebike/cab-1/telemetry", {"ports": [
        {"p": 0, "s": "charging", "w": 180, "wh": 12.3, "fen": 5, "el": 600},
        {"p": 1, "s": "idle", "w": 0}]})
    c = m.cabinets["ebike/cab-1"]
    assert c.online is True  # telemetry flowing means the cabinet is up
    p0 = c.ports[0]
    assert (p0.state, p0.w, p0.wh, p0.fen, p0.el) == ("charging", 180, 12.3, 5, 600)
    msg(m, "ebike/cab-1/telemetry", {"ports": [{"p": 0, "w": 175}]})
    assert (p0.state, p0.w, p0.wh) == ("charging", 175, 12.3)


def test_session_events_set_and_clear_the_session():
    m = Model(wall=lambda: 1764201600 + 90)
    msg(m, "ebike/cab-1/event", {"ev": "session_start", "sid": "s1", "port": 2,
                                  "start": 1764201600, "auth": "card:04A1B2C3"})
    p = m.cabinets["ebike/cab-1"].ports[2]
    assert (p.sid, p.auth, p.elapsed(m.wall())) == ("s1", "card:04A1B2C3", 90)
    msg(m, "ebike/cab-1/event", {"ev": "session_end", "sid": "s1", "port": 2, "reason": "full",
                                  "wh": 512.3, "fen": 150})
    assert p.sid is None and p.last_end == ("full", 512.3, 150)


def test_alarm_feed_newest_first_deduplicated_and_cleared():
    m = Model()
    a1 = msg(m, "ebike/cab-1/alarm", alarm(1, code="meter_silent", level="warning"))
    a2 = msg(m, "ebike/cab-1/alarm", alarm(2))
    assert msg(m, "ebike/cab-1/alarm", alarm(1, code="meter_silent")) is None  # redelivery
    assert [a.id for a in m.alarms] == ["cab-1-a2", "cab-1-a1"]
    assert a2.critical and not a1.critical and a2.port == 3 and a2.where() == "port 4"
    assert m.active_alarms("ebike/cab-1") == [a2, a1]
    a3 = msg(m, "ebike/cab-1/alarm", alarm(3, state="cleared"))
    assert m.alarms[0] is a3 and a2.cleared and not a1.cleared
    assert m.active_alarms("ebike/cab-1") == [a1]
    # the same id on another cabinet is another alarm
    assert msg(m, "ebike/cab-2/alarm", alarm(1)) is not None
    # `epoch` stands in for `t` (the firmware's event log spelling)
    a = msg(m, "ebike/cab-2/alarm", {"id": "x", "code": "smoke", "port": None,
                                      "level": "critical", "state": "raised", "epoch": 5})
    assert a.t == 5 and a.where() == "cabinet"


def test_alarm_feed_is_bounded():
    m = Model(max_alarms=5)
    for i in range(12):
        msg(m, "ebike/cab-1/alarm", alarm(i))
    assert [a.id for a in m.alarms] == ["cab-1-a%d" % i for i in range(11, 6, -1)]
    assert msg(m, "ebike/cab-1/alarm", alarm(0)) is not None  # forgotten ids are new again


def test_ack_one_and_all_shown():
    m = Model()
    a1 = msg(m, "ebike/cab-1/alarm", alarm(1))
    a2 = msg(m, "ebike/garden-2/alarm", alarm(2))
    assert m.unacked_critical() == [a2, a1]
    assert m.ack(a1.key) is a1 and a1.acked and m.ack("nope") is None
    assert m.unacked_critical() == [a2]
    m.set_view("cab-*")
    assert m.ack_all() == [] and not a2.acked  # only shown alarms
    m.set_view("*")
    assert m.ack_all() == [a2] and m.unacked_critical() == []


def test_site_scope_and_view_filter():
    assert parse_site("ebike/garden-*") == ("ebike", "garden-*")
    assert parse_site("garden-*") == ("ebike", "garden-*")
    assert parse_site("*/garden-*") == ("*", "garden-*")
    with pytest.raises(ValueError, match="--site"):
        parse_site("ebike/")
    assert subscriptions("ebike") == ["ebike/+/status", "ebike/+/telemetry", "ebike/+/event",
                                      "ebike/+/alarm"]
    assert subscriptions("*")[0] == "+/+/status"
    m = Model("ebike", "garden-*")
    msg(m, "ebike/garden-1/status", {"online": True, "ports": 2})
    msg(m, "ebike/tower-1/status", {"online": True, "ports": 2})  # out of scope: dropped
    msg(m, "other/garden-2/status", {"online": True, "ports": 2})
    assert msg(m, "ebike/tower-1/alarm", alarm(1)) is None
    assert sorted(m.cabinets) == ["ebike/garden-1"]
    msg(m, "ebike/garden-22/status", {"online": True})
    m.set_view("garden-2?")
    assert [c.id for c in m.visible_cabinets()] == ["garden-22"]


def test_bad_messages_are_counted_not_raised():
    m = Model()
    for topic, payload in [("ebike/c/status", b"{"), ("ebike/c/status", b"[1]"),
                           ("ebike/c/status", b'{"online": "yes"}'),
                           ("ebike/c/telemetry", b'{"ports": [{"s": "idle"}]}'),
                           ("ebike/c/alarm", b'{"code": "smoke"}'),
                           ("ebike/c/event", b'{"ev": "session_start"}'),
                           ("ebike/c/status", b"\xff\xfe")]:
        assert m.handle(topic, payload) is None
    assert len(m.bad) == 7
    assert m.handle("ebike/c/other", b"{}") is None and m.handle("a/b/c/status", b"{}") is None


# ------------------------------------------------------------------ broker and HTTP fixtures
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker(tmp_path):
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto not installed")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start on port %d" % port) from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


class Hook:
    """A local webhook receiver: answers `codes` in turn (then 200), records the bodies."""

    def __init__(self, codes=(), delay_s=0.0):
        self.codes, self.delay_s, self.bodies = list(codes), delay_s, []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay_s)
                hook.bodies.append(json.loads(body))
                code = hook.codes.pop(0) if hook.codes else 200
                out = b'{"errcode": 0}' if code == 200 else b"busy"
                self.send_response(code)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/robot/send?key=t" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory():
    made = []

    def make(*a, **kw):
        made.append(Hook(*a, **kw))
        return made[-1]
    yield make
    for h in made:
        h.close()


def wait_for(cond, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ------------------------------------------------------------------ webhook
def _alarm_dict(i, **kw):
    return dict({"root": "ebike/cab-1", "cabinet": "cab-1"}, **alarm(i, **kw))


def test_webhook_retries_after_a_failure_and_deduplicates(hook_factory):
    hook = hook_factory(codes=[500])
    fw = Forwarder(hook.url, backoff_s=0.05)
    try:
        assert fw.submit(_alarm_dict(1)) is True
        assert fw.submit(_alarm_dict(1)) is False  # duplicate while queued
        assert wait_for(lambda: fw.sent == 1)
        assert fw.submit(_alarm_dict(1)) is False  # duplicate after delivery
        assert fw.submit(_alarm_dict(2)) is True
        assert wait_for(lambda: fw.sent == 2)
        time.sleep(0.2)
        ids = [b["alarm"]["id"] for b in hook.bodies]
        assert ids == ["cab-1-a1", "cab-1-a1", "cab-1-a2"]  # one failed try, one retry, one
        assert fw.stats()["retries"] == 1 and fw.failed == 0 and fw.duplicates == 2
        assert "CRITICAL" in hook.bodies[0]["text"]["content"]
        assert hook.bodies[0]["msgtype"] == "text"
    finally:
        fw.close()


def test_webhook_gives_up_after_bounded_retries(hook_factory):
    hook = hook_factory(codes=[503] * 10)
    fw = Forwarder(hook.url, attempts=3, backoff_s=0.02)
    try:
        fw.submit(_alarm_dict(1))
        assert wait_for(lambda: fw.failed == 1)
        assert len(hook.bodies) == 3 and fw.sent == 0
        assert fw.submit(_alarm_dict(1)) is True  # a failed alarm may be tried again
    finally:
        fw.close()


def test_webhook_submit_never_blocks(hook_factory):
    hook = hook_factory(delay_s=0.5)
    fw = Forwarder(hook.url)
    try:
        t0 = time.monotonic()
        for i in range(20):
            fw.submit(_alarm_dict(i))
        assert time.monotonic() - t0 < 0.05  # 20 submits while the receiver is slow
    finally:
        fw.close(timeout_s=0.1)
    with pytest.raises(ValueError, match="--webhook"):
        Forwarder("ftp://x")


# ------------------------------------------------------------------ UI, headless, real broker
def _cabinet(port, cid="cab-7"):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    c.will_set("ebike/%s/status" % cid, b'{"online": false}', qos=1, retain=True)
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    return c


def test_ui_shows_alarm_within_2s_and_forwards_it(broker, hook_factory):
    from tools.monitor.app import MonitorApp

    hook = hook_factory()
    cab = _cabinet(broker)
    cab.publish("ebike/cab-7/status", json.dumps({"online": True, "fw": "0.3", "ports": 4}),
                qos=1, retain=True).wait_for_publish(5)
    model = Model("ebike", "*")
    app = MonitorApp(model, ("127.0.0.1", broker), forwarder=Forwarder(hook.url))
    result = {}

    async def until(cond, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    async def scenario():
        async with app.run_test(size=(150, 40)) as pilot:
            # The retained birth arrives once the monitor is subscribed.
            await until(lambda: model.cabinets.get("ebike/cab-7") is not None)
            assert model.cabinets["ebike/cab-7"].online is True
            cab.publish("ebike/cab-7/telemetry", json.dumps({"ports": [
                {"p": 0, "s": "charging", "w": 180, "wh": 12.3, "fen": 5, "el": 600},
                {"p": 3, "s": "charging", "w": 1650, "wh": 40.1, "fen": 17, "el": 1200}]}))
            await until(lambda: 0 in model.cabinets["ebike/cab-7"].ports)
            await until(lambda: "charging" in app.export_screenshot())  # bounded: 5 s
            t0 = time.monotonic()
            cab.publish("ebike/cab-7/alarm", json.dumps(
                {"id": "cab-7-1-a1", "code": "overcurrent", "port": 3, "level": "critical",
                 "state": "raised", "value": 7.9, "t": int(time.time())}), qos=1)
            while "overcurrent" not in app.export_screenshot():
                assert time.monotonic() - t0 < 5, "alarm never shown"
                await asyncio.sleep(0.02)
            result["latency_s"] = time.monotonic() - t0
            shot = app.export_screenshot()
            assert "UNACKNOWLEDGED" in shot and "critical" in shot
            # acknowledge it from the keyboard: the row is marked and dimmed
            await pilot.press("a")
            await pilot.pause(0.1)
            assert model.alarms[0].acked and "UNACKNOWLEDGED" not in app.export_screenshot()
            # the fake cabinet dies without DISCONNECT: the broker publishes its will
            cab.loop_stop()
            cab.socket().close()
            await until(lambda: model.cabinets["ebike/cab-7"].online is False, 10)
            t1 = time.monotonic()
            while "OFFLINE" not in app.export_screenshot():
                assert time.monotonic() - t1 < ALARM_SHOW_S, "offline never shown"
                await asyncio.sleep(0.02)
            # filter the view to another site: the cabinet and its alarm disappear
            await pilot.press("f", *"garden-*", "enter")
            await pilot.pause(0.1)
            assert model.view_glob == "garden-*" and "cab-7" not in app.export_screenshot()
            await until(lambda: app.forwarder.sent == 1)

    asyncio.run(scenario())
    print("alarm display latency: %.0f ms" % (result["latency_s"] * 1000))
    assert result["latency_s"] < ALARM_SHOW_S
    assert [b["alarm"]["code"] for b in hook.bodies] == ["overcurrent"]


def test_module_reports_bad_arguments():
    for args, flag in ((["--broker", "localhost"], "--broker"),
                       (["--broker", "h:1", "--site", "ebike/"], "--site"),
                       (["--broker", "h:1", "--webhook", "ftp://x"], "--webhook")):
        r = subprocess.run([sys.executable, "-m", "tools.monitor", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 2 and "error: " + flag in r.stderr, r.stderr
