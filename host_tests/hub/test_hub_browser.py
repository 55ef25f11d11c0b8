"""The resident page (phone size) and the duty room in a real Chromium (Debian's, driven
by Playwright), against the hub, mosquitto and the firmware on the unix port.
Screenshots go to the test's tmp dir, or to $HUB_SHOTS_DIR (`make hub-shots`: the
README's docs/screens/hub_*.png)."""

import os
import time

from hubkit import HubProc, call, hub_cli, wait_for
from mpy import ROOT
from mqttkit import KEY, Mosquitto, SimProc

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser(p):
    assert os.path.exists(CHROMIUM), "Debian's chromium is not installed (.ci/run does it)"
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)


def test_resident_page_and_duty_room_in_chromium(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = os.environ.get("HUB_SHOTS_DIR") or str(tmp_path)
    if not os.path.isabs(shots):
        shots = os.path.join(ROOT, shots)
    db = str(tmp_path / "hub.sqlite3")
    broker = Mosquitto(tmp_path)
    hub_cli("cabinet", "add", "sim-001", "--key", KEY.hex(), "--ports", "4", "--db", db)
    hub_cli("user", "add", "wang", "--role", "admin", "--password", "duty-pass-1", "--db", db)
    hub = HubProc(db, broker.port, tmp_path)
    sim = SimProc({"cabinet": {"ports": 4}, "start_epoch": int(time.time()),
                   "duration_s": 4 * 3600, "events": [
                       {"t": 1, "port": 2, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
                       {"t": 1, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.5}},
                       {"t": 2, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}},
                       {"t": 400, "port": 0, "fault": "short"}]},
                  broker.port, str(tmp_path), speed=20)
    try:
        wait_for(lambda: call("GET", hub.url + "/api/cabinets/sim-001")[1]["online"], 30,
                 "cabinet online")
        with sync_playwright() as p:
            b = browser(p)
            # ---- the resident, on a phone, from the QR code of port 3
            page = b.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                              has_touch=True, locale="zh-CN")
            page.goto(hub.url + "/charge?c=sim-001&p=3")
            expect(page.locator("#tariff")).to_contain_text("电费 0.52 元/度")
            expect(page.locator("#port-3")).to_have_class("sel")
            expect(page.locator("#port-1")).to_be_disabled(timeout=20000)  # charging: not free
            expect(page.locator("#testpay")).to_contain_text("测试支付")
            page.screenshot(path=os.path.join(shots, "hub_resident_choose.png"))
            page.check("input[value=full]")
            page.click("#pay")
            expect(page.locator("#ostate")).to_have_attribute("data-state", "started",
                                                              timeout=30000)
            page.wait_for_function("parseFloat(document.getElementById('wh').textContent)"
                                   " >= 20", timeout=60000)
            assert "W" in page.inner_text("#w")
            page.screenshot(path=os.path.join(shots, "hub_resident_live.png"))
            page.click("#stop")
            expect(page.locator("#ostate")).to_have_attribute("data-state", "ended",
                                                              timeout=30000)
            bill = page.locator("#bill")
            expect(bill).to_contain_text("退款", timeout=15000)
            text = bill.inner_text()
            for word in ("电费", "服务费", "合计", "预付", "远程结束"):
                assert word in text, text
            page.screenshot(path=os.path.join(shots, "hub_resident_bill.png"))
            # ---- the duty room
            duty = b.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            duty.goto(hub.url + "/duty")
            duty.fill("#name", "wang")
            duty.fill("#password", "wrong-password")
            duty.click("#login")
            expect(duty.locator("#err")).to_contain_text("用户名或密码错误")
            duty.fill("#name", "wang")
            duty.fill("#password", "duty-pass-1")
            duty.click("#login")
            expect(duty.locator("#who")).to_contain_text("wang (admin)")
            expect(duty.locator("#p-sim-001-1")).to_contain_text("已锁定", timeout=30000)  # tripped
            # the trip on port 1: its alarm row in Chinese with what to do
            wait_for(lambda: any(a["code"] == "overcurrent" for a in
                                 call("GET", hub.url + "/api/alarms?cabinet=sim-001",
                                      headers={"Authorization": "Bearer " + token(db)})[1]),
                     60, "overcurrent stored")
            duty.reload()
            row = duty.locator("tr.critical").first
            expect(row).to_contain_text("过流")
            expect(row).to_contain_text("检查车辆充电器")
            row.locator("input[name=note]").fill("已到场检查，插头烧蚀")
            row.locator("button.ack").click()
            expect(duty.locator("tr.critical").first).to_contain_text("已确认 wang")
            expect(duty.locator("tr.critical").first).to_contain_text("插头烧蚀")
            # an unlock after the inspection, signed, with who and why
            duty.select_option("select[name=op]", "unlock")
            duty.fill("input[name=port]", "1")
            duty.fill("input[name=why]", "检查完毕，更换插座")
            duty.click("#send")
            expect(duty.locator("#commands")).to_contain_text("检查完毕，更换插座")

            def unlock_ok():
                duty.reload()
                rows = duty.inner_text("#commands").splitlines()
                return [r for r in rows if "unlock" in r and r.rstrip().endswith("ok")]
            wait_for(unlock_ok, 30, "unlock reply ok", every=0.5)
            duty.screenshot(path=os.path.join(shots, "hub_duty_room.png"), full_page=True)
            # English by a setting, from the same catalogue
            duty.goto(hub.url + "/lang?lang=en&next=/duty")
            expect(duty.locator("tr.critical").first).to_contain_text("overcurrent")
            expect(duty.locator("#alarms h3")).to_have_text("Alarms")
            b.close()
    finally:
        sim.close()
        hub.stop()
        broker.stop()


def token(db):
    return hub_cli("user", "add", "reader", "--role", "staff", "--db", db).split()[-1]
