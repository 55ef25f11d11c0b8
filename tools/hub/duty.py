"""The duty room: staff log in (argon2 hashes, a session cookie, CSRF on every form),
see every cabinet and port live, acknowledge alarms and write notes, and give the signed
staff commands - stop (staff), emergency stop (staff), unlock after an inspection
(admin) - each recorded with who and why."""

import asyncio
import json
import os
import time

from starlette.responses import RedirectResponse, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from tools import texts

from . import commands, ledger, users
from .commands import CommandError
from .web import HERE, Bucket

templates = Jinja2Templates(directory=os.path.join(HERE, "templates"))
COOKIE = "hub_session"
OP_ROLES = {"stop": ("staff", "admin"), "estop": ("staff", "admin"), "unlock": ("admin",)}


def routes(hub, db_call, lang_of, err):
    login_bucket = Bucket(0.2, 10)  # 10 tries, then one every 5 s, per address

    async def current(request):
        sid = request.cookies.get(COOKIE)

        def work():
            with hub.db.tx() as cur:
                return users.session(cur, sid)
        return await db_call(work)

    def page(request, name, ctx):
        lg = lang_of(request)
        ctx = dict(ctx, lang=lg, T=lambda k: texts.ui(k, lg), texts=texts)
        return templates.TemplateResponse(request, name, ctx)

    async def login_form(request):
        return page(request, "login.html", {"error": None})

    async def login(request):
        addr = request.client.host if request.client else "?"
        form = await request.form()
        name, pw = str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024]
        if not login_bucket.take(addr):
            return page(request, "login.html", {"error": "too many tries; wait"})

        def work():
            with hub.db.tx() as cur:
                u = users.check_password(cur, name, pw)
                return users.open_session(cur, u["name"]) if u else None
        sid = await db_call(work)
        if sid is None:
            r = page(request, "login.html", {"error": texts.ui("bad_login", lang_of(request))})
            r.status_code = 401
            return r
        resp = RedirectResponse("/duty", status_code=303)
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="strict", max_age=users.SESSION_S)
        return resp

    async def logout(request):
        sess = await current(request)
        form = await request.form()
        if sess and users.csrf_ok(sess, form.get("csrf")):
            def work():
                with hub.db.tx() as cur:
                    users.close_session(cur, sess["id"])
            await db_call(work)
        resp = RedirectResponse("/duty/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    async def room(request):
        sess = await current(request)
        if sess is None:
            return RedirectResponse("/duty/login", status_code=303)

        def work():
            with hub.db.tx() as cur:
                return (ledger.alarms(cur, None, 200), commands.history(cur, 30),
                        cur.all("SELECT cabinet, alarm_id, who, note, t FROM alarm_notes "
                                "ORDER BY t DESC LIMIT 200"),
                        cur.all("SELECT id, ports FROM cabinets ORDER BY id"))
        alarms, history, notes, cabs = await db_call(work)
        by_alarm = {}
        for n in notes:
            by_alarm.setdefault((n["cabinet"], n["alarm_id"]), []).append(n)
        return page(request, "duty.html", {
            "sess": sess, "alarms": alarms, "history": history, "notes": by_alarm,
            "cabinets": cabs, "clock": lambda t: time.strftime("%m-%d %H:%M:%S",
                                                                time.localtime(t or 0)),
            "roles": OP_ROLES})

    async def live(request):
        if await current(request) is None:
            return err(401, "unauthorized", "log in first")
        lg = lang_of(request)

        async def stream():
            last = None
            for _ in range(3600 * 4):
                doc = {}
                for cab in sorted(hub.known):
                    online, ports = hub.live(cab)
                    doc[cab] = {"online": online, "ports": {
                        str(p): dict(v, text=texts.state(v.get("s"), lg))
                        for p, v in ports.items()}}
                text = json.dumps(doc, sort_keys=True, ensure_ascii=False)
                yield ("data: %s\n\n" % text) if text != last else ": keepalive\n\n"
                last = text
                await asyncio.sleep(0.5)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def guarded_form(request):
        sess = await current(request)
        if sess is None:
            return None, None, err(401, "unauthorized", "log in first")
        form = await request.form()
        if not users.csrf_ok(sess, form.get("csrf")):
            return None, None, err(403, "csrf", "the form's CSRF token is missing or wrong; "
                                   "reload the page")
        return sess, form, None

    async def ack(request):
        sess, form, bad = await guarded_form(request)
        if bad or sess is None or form is None:
            return bad
        cab, aid = request.path_params["cab"], request.path_params["aid"]
        note = str(form.get("note", "")).strip()[:1000]

        def work():
            with hub.db.tx() as cur:
                if form.get("do") == "ack":
                    cur.run("UPDATE alarms SET acked_by = ?, acked_at = ? WHERE cabinet = ? "
                            "AND id = ? AND acked_by IS NULL", (sess["name"], time.time(),
                                                                 cab, aid))
                if note:
                    cur.run("INSERT INTO alarm_notes (cabinet, alarm_id, who, note, t) VALUES "
                            "(?, ?, ?, ?, ?)", (cab, aid, sess["name"], note, time.time()))
        await db_call(work)
        return RedirectResponse("/duty#alarms", status_code=303)

    async def command(request):
        sess, form, bad = await guarded_form(request)
        if bad or sess is None or form is None:
            return bad
        op = str(form.get("op", ""))
        if op not in OP_ROLES:
            return err(400, "bad_op", "op %r: one of stop, estop, unlock" % op[:20])
        if sess["role"] not in OP_ROLES[op]:
            return err(403, "role", "%s needs the role %s" % (op, " or ".join(OP_ROLES[op])))
        args = {}
        if op != "estop":
            p = str(form.get("port", ""))
            if not p.isdigit():
                return err(400, "bad_port", "port %r: a port number" % p[:10])
            args["port"] = int(p) - 1  # the page shows ports 1-based
        try:
            await db_call(hub.command, str(form.get("cabinet", ""))[:32], op, args,
                          sess["name"], form.get("why"))
        except CommandError as e:
            return err(400, e.code, str(e))
        return RedirectResponse("/duty#commands", status_code=303)

    return [Route("/duty", room), Route("/duty/login", login_form),
            Route("/duty/login", login, methods=["POST"]),
            Route("/duty/logout", logout, methods=["POST"]), Route("/duty/live", live),
            Route("/duty/alarms/{cab}/{aid}", ack, methods=["POST"]),
            Route("/duty/cmd", command, methods=["POST"])]
