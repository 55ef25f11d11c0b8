"""The hub's HTTP side (Starlette on uvicorn): the resident API and page, the bearer API
for sessions and alarms, payment notices, the daily export. The duty room: duty.py."""

import asyncio
import json
import os
import secrets
import threading
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from tools import texts

from . import ledger, orders, users
from .payments import NoticeError

HERE = os.path.dirname(os.path.abspath(__file__))
templates = Jinja2Templates(directory=os.path.join(HERE, "templates"))
MAX_BODY = 4096  # an order or a notice is far smaller
LIVE_TICK_S = 0.5
LIVE_MAX_S = 6 * 3600  # one live view's longest stream
PHONE_COOKIE = "phone"


class Bucket:
    """Token buckets per key (requests from one address), in this process."""

    def __init__(self, rate_per_s, burst):
        self.rate, self.burst = rate_per_s, burst
        self.b = {}
        self.lock = threading.Lock()

    def take(self, key, now=None):
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.b) > 100000:
                self.b.clear()
            tokens, t = self.b.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - t) * self.rate)
            ok = tokens >= 1
            self.b[key] = (tokens - 1 if ok else tokens, now)
            return ok


def err(status, code, text):
    return JSONResponse({"error": code, "message": text}, status_code=status)


async def read_json(request):
    body = await request.body()
    if len(body) > MAX_BODY:
        raise orders.OrderError(413, "too_large", "body over %d bytes" % MAX_BODY)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise orders.OrderError(400, "bad_json", "the body is not JSON") from None


def lang_of(request):
    lang = request.cookies.get("lang") or request.app.state.lang
    return lang if lang in texts.LANGS else texts.DEFAULT_LANG


def client_key(request):
    phone = request.cookies.get(PHONE_COOKIE) or ""
    addr = request.client.host if request.client else "?"
    return ("phone:" + phone[:64]) if phone else "addr:" + addr


def make_app(hub, lang="zh", phone_rate=(1.0, 10), addr_rate=(20.0, 200)):
    from . import duty

    # one phone: 10 at once, then 1 a second; one address (a carrier NAT holds many
    # phones): 200 at once, then 20 a second
    phone_bucket, addr_bucket = Bucket(*phone_rate), Bucket(*addr_rate)

    def allowed(request):
        addr = request.client.host if request.client else "?"
        return addr_bucket.take(addr) and phone_bucket.take(client_key(request))

    def db_call(fn, *a):
        return run_in_threadpool(fn, *a)

    async def resident_page(request):
        cab = request.query_params.get("c", "")[:32]
        port = request.query_params.get("p", "")
        lg = lang_of(request)
        resp = templates.TemplateResponse(request, "resident.html", {
            "cabinet": cab, "port": port if port.isdigit() else "", "lang": lg,
            "t": texts.table(lg), "test_pay": hub.provider.test,
            "texts_json": json.dumps(texts.table(lg), ensure_ascii=False)})
        if not request.cookies.get(PHONE_COOKIE):
            resp.set_cookie(PHONE_COOKIE, secrets.token_urlsafe(16), max_age=365 * 86400,
                            httponly=True, samesite="lax")
        return resp

    async def cabinet_info(request):
        cab = request.path_params["cab"]

        def work():
            with hub.db.tx() as cur:
                return cur.one("SELECT id, ports, energy_fen_per_kwh, service_fen_per_kwh, "
                               "port_limit_w FROM cabinets WHERE id = ?", (cab,))
        row = await db_call(work)
        if row is None:
            return err(404, "unknown_cabinet", "cabinet %r is not on this hub" % cab[:32])
        online, ports = hub.live(cab)
        return JSONResponse({"cabinet": cab, "online": online, "tariff": {
            "energy_fen_per_kwh": row["energy_fen_per_kwh"],
            "service_fen_per_kwh": row["service_fen_per_kwh"]},
            "ports": [dict({"port": p}, **ports.get(p, {"s": None}))
                      for p in range(row["ports"])]})

    async def post_order(request):
        if not allowed(request):
            return err(429, "rate_limited", "too many requests from this phone; wait a moment")
        try:
            body = await read_json(request)
            o = await db_call(hub.create_order, body, client_key(request))
        except orders.OrderError as e:
            return err(e.status, e.code, str(e))
        return JSONResponse(o, status_code=201)

    async def get_order(request):
        oid = request.path_params["oid"][:64]

        def work():
            with hub.db.tx() as cur:
                return orders.get(cur, oid)
        o = await db_call(work)
        if o is None:
            return err(404, "unknown_order", "order %r not found" % oid)
        return JSONResponse(o)

    async def stop_order(request):
        oid = request.path_params["oid"][:64]
        if not allowed(request):
            return err(429, "rate_limited", "too many requests; wait a moment")
        try:
            await db_call(hub.stop_order, oid, client_key(request))
        except orders.OrderError as e:
            return err(e.status, e.code, str(e))
        return JSONResponse({"order": oid, "stop": "sent"}, status_code=202)

    async def order_live(request):
        oid = request.path_params["oid"][:64]

        def order():
            with hub.db.tx() as cur:
                return orders.get(cur, oid)

        async def stream():
            last, t0 = None, time.monotonic()
            while time.monotonic() - t0 < LIVE_MAX_S:
                o = await db_call(order)
                if o is None:
                    yield "event: error\ndata: {}\n\n"
                    return
                online, ports = hub.live(o["cabinet"])
                doc = {"order": o, "online": online, "port": ports.get(o["port"])}
                text = json.dumps(doc, sort_keys=True)
                if text != last:
                    yield "data: %s\n\n" % text
                    last = text
                else:
                    yield ": keepalive\n\n"
                if o["state"] in ("ended", "refused") and o["pay_state"] in (
                        "refunded", "settled"):
                    return
                await asyncio.sleep(LIVE_TICK_S)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def pay_notice(request):
        body = await request.body()
        if len(body) > MAX_BODY:
            return err(413, "too_large", "body over %d bytes" % MAX_BODY)
        if request.path_params["provider"] != hub.provider.name:
            return err(404, "unknown_provider", "no payment provider %r"
                       % request.path_params["provider"][:20])
        try:
            doc = hub.provider.verify({k.lower(): v for k, v in request.headers.items()}, body)
        except NoticeError as e:
            return err(e.status, e.code, str(e))

        def work():
            with hub.db.tx() as cur:
                n = cur.run("INSERT INTO pay_notices (id, order_id, t) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING", (doc["notice"][:100], doc["order"][:64],
                                                       time.time()))
                if n != 1:
                    return 409, "replayed"
                o = cur.one("SELECT state, pay_state FROM orders WHERE id = ?", (doc["order"],))
                if o is None:
                    return 404, "unknown_order"
                if o["pay_state"] != "pending":
                    return 200, "already_paid"
                cur.run("UPDATE orders SET pay_state = 'paid' WHERE id = ?", (doc["order"],))
                return 200, "paid"
        status, code = await db_call(work)
        if status != 200:
            return err(status, code, "notice %s: %s" % (doc["notice"][:100], code))
        return JSONResponse({"ok": True, "result": code})

    async def bearer(request):
        h = request.headers.get("authorization", "")
        if not h.startswith("Bearer "):
            return None

        def work():
            with hub.db.tx() as cur:
                return users.by_token(cur, h[7:].strip())
        return await db_call(work)

    def listing(fn):
        async def endpoint(request):
            if await bearer(request) is None:
                return err(401, "unauthorized", "Authorization: Bearer TOKEN required "
                           "(python -m tools.hub user add prints one)")
            cab = request.query_params.get("cabinet")

            def work():
                with hub.db.tx() as cur:
                    return fn(cur, cab)
            return JSONResponse(await db_call(work))
        return endpoint

    async def export(request):
        if await bearer(request) is None:
            return err(401, "unauthorized", "Authorization: Bearer TOKEN required")
        day = request.query_params.get("day", time.strftime("%Y-%m-%d"))
        fmt = request.query_params.get("format", "csv")
        try:
            time.strptime(day, "%Y-%m-%d")
        except ValueError:
            return err(400, "bad_day", "day %r: YYYY-MM-DD" % day[:20])
        if fmt not in ("csv", "json"):
            return err(400, "bad_format", "format %r: csv or json" % fmt[:20])

        def work():
            with hub.db.tx() as cur:
                return ledger.export_day(cur, day, fmt)
        text = await db_call(work)
        return Response(text, media_type="application/json" if fmt == "json" else "text/csv")

    async def health(request):
        return JSONResponse({"hub": hub.name, "mqtt": hub.connected.is_set(),
                             "cabinets_live": len(hub.model.cabinets), "stats": hub.stats,
                             "queued": hub.records_q.qsize()})

    async def set_lang(request):
        lg = request.query_params.get("lang", "zh")
        resp = RedirectResponse(request.query_params.get("next", "/duty")
                                if request.query_params.get("next", "").startswith("/")
                                else "/duty", status_code=303)
        if lg in texts.LANGS:
            resp.set_cookie("lang", lg, max_age=365 * 86400, samesite="lax")
        return resp

    routes = [
        Route("/", lambda r: RedirectResponse("/duty", status_code=303)),
        Route("/charge", resident_page),
        Route("/lang", set_lang),
        Route("/api/cabinets/{cab}", cabinet_info),
        Route("/api/orders", post_order, methods=["POST"]),
        Route("/api/orders/{oid}", get_order),
        Route("/api/orders/{oid}/stop", stop_order, methods=["POST"]),
        Route("/api/orders/{oid}/live", order_live),
        Route("/api/pay/notify/{provider}", pay_notice, methods=["POST"]),
        Route("/api/sessions", listing(lambda cur, cab: ledger.sessions(cur, cab))),
        Route("/api/alarms", listing(lambda cur, cab: ledger.alarms(cur, cab))),
        Route("/api/export", export),
        Route("/healthz", health),
    ] + duty.routes(hub, db_call, lang_of, err)
    app = Starlette(routes=routes)
    app.state.lang = lang
    app.state.hub = hub
    return app


__all__ = ["make_app", "HTMLResponse", "PlainTextResponse", "Request"]
