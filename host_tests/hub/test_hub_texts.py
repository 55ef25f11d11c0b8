"""One catalogue of texts (tools/texts.py) for the duty room, the resident page, the
webhook and the terminal monitor: complete for every code the firmware sends, Chinese
first, English by a setting; the monitor in Chinese on a real broker."""

import asyncio
import json
import time

import paho.mqtt.client as mqtt
from mqttkit import Mosquitto

from firmware.core import codes
from tools import texts
from tools.monitor.webhook import body_for


def test_every_reason_alarm_and_state_has_both_languages():
    alarm_codes = [v for k, v in vars(codes).items() if k.startswith("A_")]
    states = [codes.IDLE, codes.OPEN, codes.CHARGING, codes.FLOAT, codes.DEFERRED,
              codes.ENDED, codes.FAULT, codes.LOCKED]
    for r in codes.REASONS:
        assert texts.reason(r, "zh") != r and texts.reason(r, "en"), r
    for a in alarm_codes + ["plug_swap", "mains_voltage", "door_open", "safe_mode"]:
        assert texts.alarm_name(a, "zh") != a and texts.alarm_todo(a, "zh"), a
        assert texts.alarm_todo(a, "en"), a
    for s in states:
        assert texts.state(s, "zh") != s, s
    for k in texts.UI:
        assert texts.ui(k, "zh") and texts.ui(k, "en"), k


def test_webhook_text_is_chinese_first_with_the_wire_code():
    a = {"cabinet": "sim-001", "id": "x", "code": "smoke", "port": None, "level": "critical",
         "state": "raised", "value": None}
    zh = body_for(a, "zh")["text"]["content"]
    assert "烟雾报警" in zh and "(smoke)" in zh and "CRITICAL" in zh and "处置" in zh
    en = body_for(a, "en")["text"]["content"]
    assert "smoke" in en and "烟" not in en


def test_terminal_monitor_speaks_chinese_by_default(tmp_path):
    from tools.monitor.__main__ import build_parser
    from tools.monitor.app import MonitorApp
    from tools.monitor.model import Model
    assert build_parser().parse_args(["--broker", "h:1"]).lang == "zh"
    broker = Mosquitto(tmp_path)
    cab = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cab-zh")
    cab.connect("127.0.0.1", broker.port)
    cab.loop_start()
    model = Model("ebike", "*")
    app = MonitorApp(model, ("127.0.0.1", broker.port), lang="zh")

    cab.publish("ebike/cab-9/status", json.dumps({"online": True, "ports": 2}),
                qos=1, retain=True).wait_for_publish(5)

    async def run():
        async with app.run_test(size=(200, 40)):
            end = time.monotonic() + 10  # subscribed: the retained birth has come
            while "ebike/cab-9" not in model.cabinets and time.monotonic() < end:
                await asyncio.sleep(0.05)
            cab.publish("ebike/cab-9/telemetry", json.dumps(
                {"ports": [{"p": 0, "s": "charging", "w": 150}, {"p": 1, "s": "locked"}]}))
            cab.publish("ebike/cab-9/alarm", json.dumps(
                {"id": "a1", "code": "overcurrent", "port": 1, "level": "critical",
                 "state": "raised", "value": 7.9, "t": int(time.time())}), qos=1)
            cab.publish("ebike/cab-9/event", json.dumps(
                {"ev": "session_end", "id": "s1:e", "sid": "s1", "port": 0, "start": 1,
                 "end": 61, "charge_s": 60, "wh": 1.0, "fen": 0, "reason": "remote_stop"}),
                qos=1)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                shot = app.export_screenshot()
                if "远程结束" in shot and "过流" in shot:
                    break
                await asyncio.sleep(0.05)
            for word in ("充电中", "已锁定", "过流", "严重", "检查车辆充电器", "远程结束",
                         "在线", "报警（最新在上）"):
                assert word in shot, word
    try:
        asyncio.run(run())
    finally:
        cab.loop_stop()
        broker.stop()
