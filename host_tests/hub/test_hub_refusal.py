"""A start the cabinet refuses although the hub thought the port free (its telemetry had
not come yet): the order ends `refused` with the cabinet's code, the prepayment refunded
in full, and the page has the code in plain words. Against a protocol-level cabinet
(tools/hub/lightcab.py) whose telemetry the test controls, so the race is certain."""

import asyncio
import threading

from hubkit import HubProc, call, hub_cli, wait_for
from mqttkit import Mosquitto

from firmware.core import codes
from tools import texts
from tools.hub.lightcab import LightCabinet

KEY = bytes(range(32))


def test_the_cabinets_refusal_reaches_the_order_and_refunds_it(tmp_path):
    db = str(tmp_path / "hub.sqlite3")
    broker = Mosquitto(tmp_path)
    hub_cli("cabinet", "add", "lc-1", "--key", KEY.hex(), "--db", db)
    hub = HubProc(db, broker.port, tmp_path)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    cab = LightCabinet("lc-1", KEY, "127.0.0.1", broker.port)
    stop = asyncio.Event()

    def on_loop(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    async def connect():
        await cab.connect()
        asyncio.ensure_future(cab.run(stop))
    try:
        on_loop(connect())
        wait_for(lambda: call("GET", hub.url + "/api/cabinets/lc-1")[1]["online"], 10,
                 "cabinet online")

        async def local_start():  # started at the cabinet: no telemetry about it yet
            cab.session_start(5, "card:0A0B0C0D")
            await cab._w().drain()
        on_loop(local_start())
        st, o = call("POST", hub.url + "/api/orders", {"cabinet": "lc-1", "port": 5,
                                                       "limit": {"wh": 500}},
                     headers={"Cookie": "phone=r1"})
        assert st == 201 and o["prepay_fen"] == 66  # 0.5 kWh x (52 + 80) fen
        o = wait_for(lambda: (lambda d: d if d["pay_state"] == "refunded" else None)(
            call("GET", hub.url + "/api/orders/" + o["order"])[1]), 20, "refused, refunded")
        assert (o["state"], o["error"], o["session"]) == ("refused", "port_busy", None)
        assert o["refund_fen"] == o["prepay_fen"] == 66
        assert [op for op, _ in cab.commands] == ["start"]  # signed with its key: accepted
    finally:
        loop.call_soon_threadsafe(stop.set)
        hub.stop()
        broker.stop()


def test_every_cabinet_refusal_has_plain_words():
    for name, code in vars(codes).items():
        if name.startswith("E_"):
            assert texts.error(code, "zh") != code and texts.error(code, "en") != code, code
