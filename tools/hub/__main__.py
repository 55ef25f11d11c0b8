"""Command line of the hub (docs/hub.md). Every subcommand takes --db (default: the
embedded SQLite file var/hub.sqlite3); a bad argument exits 2 naming it."""

import argparse
import getpass
import json
import logging
import os
import sys
import time

from tools import texts
from tools.monitor.link import parse_broker

from . import cabinets
from . import cards as cards_mod
from .db import DEFAULT_DB, Db, DbError

DEFAULT_BROKER = "127.0.0.1:1883"
DEFAULT_HTTP = "127.0.0.1:8080"
PROG = ".venv/bin/python -m tools.hub"


def build_parser():
    ap = argparse.ArgumentParser(prog=PROG, description="The operator hub for e-bike "
                                 "charging cabinets (docs/hub.md).")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def with_db(p):
        p.add_argument("--db", default=DEFAULT_DB, help="a SQLite file path or a "
                       "postgresql:// URL (default %s)" % os.path.relpath(DEFAULT_DB))
        return p

    s = with_db(sub.add_parser("serve", help="run the hub: MQTT side and web"))
    s.add_argument("--broker", default=DEFAULT_BROKER, help="HOST:PORT of the MQTT broker "
                   "(default %s)" % DEFAULT_BROKER)
    s.add_argument("--http", default=DEFAULT_HTTP, help="HOST:PORT to serve the pages and "
                   "API on (default %s)" % DEFAULT_HTTP)
    s.add_argument("--name", help="this process's MQTT client id (default hub-<random>); "
                   "give a fixed one so a restarted process takes back its queued messages")
    s.add_argument("--group", default="hub", help="shared-subscription group (default hub)")
    s.add_argument("--webhook", help="POST critical alarms to this URL (WeCom/DingTalk robot)")
    s.add_argument("--lang", default=texts.DEFAULT_LANG, choices=texts.LANGS,
                   help="page language by default (zh)")
    s.add_argument("--cmd-ttl", type=int, default=None, help="command lifetime, s (300)")
    s.add_argument("--mqtt-user", help="MQTT user name (password from $HUB_MQTT_PASSWORD)")
    s.add_argument("--pay-secret", help="the test payment provider's notice secret (hex; "
                   "default $HUB_PAY_SECRET or random)")

    c = sub.add_parser("cabinet", help="cabinets")
    csub = c.add_subparsers(dest="action", required=True)
    ca = with_db(csub.add_parser("add", help="add or update a cabinet and its command key"))
    ca.add_argument("id")
    ca.add_argument("--key", help="the cabinet's cmd_key, hex (from tools.provision)")
    ca.add_argument("--from", dest="from_file", help="a server_key.json written by "
                    "tools.provision (instead of ID --key)")
    ca.add_argument("--prefix", default="ebike", help="MQTT topic prefix (default ebike)")
    ca.add_argument("--ports", type=int, default=10, help="ports (default 10)")
    ca.add_argument("--energy-fen-per-kwh", type=int, default=52)
    ca.add_argument("--service-fen-per-kwh", type=int, default=80)
    ca.add_argument("--port-limit-w", type=int, default=1000)
    with_db(csub.add_parser("list", help="list cabinets (no keys)"))

    u = sub.add_parser("user", help="staff accounts")
    usub = u.add_subparsers(dest="action", required=True)
    ua = with_db(usub.add_parser("add", help="add a user; prints an API token last"))
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=("staff", "admin"))
    ua.add_argument("--password", help="web login password (default: $HUB_PASSWORD, else "
                    "asked on a terminal, else none: API token only)")

    k = sub.add_parser("card", help="resident cards")
    ksub = k.add_subparsers(dest="action", required=True)
    kp = with_db(ksub.add_parser("put", help="add or top up a card"))
    kp.add_argument("card")
    kp.add_argument("--balance-fen", type=int, default=0)
    kp.add_argument("--pass-days", type=int, default=0, help="a monthly pass: days valid")
    kb = with_db(ksub.add_parser("block", help="block a lost card (every cabinet's list "
                                 "is updated by a running hub at the cabinet's next status)"))
    kb.add_argument("card")

    e = with_db(sub.add_parser("export", help="a day's sessions per cabinet, CSV or JSON"))
    e.add_argument("--day", default=time.strftime("%Y-%m-%d"), help="YYYY-MM-DD (today)")
    e.add_argument("--format", default="csv", choices=("csv", "json"))
    return ap


def hostport(ap: argparse.ArgumentParser, flag, text):
    try:
        return parse_broker(text, flag)
    except ValueError as e:
        ap.error(str(e))


def serve(ap: argparse.ArgumentParser, a):
    import uvicorn

    from tools.monitor.webhook import Forwarder

    from .core import Hub
    from .payments import TestProvider
    from .web import make_app
    broker = hostport(ap, "--broker", a.broker)
    host, port = hostport(ap, "--http", a.http)
    fwd = None
    if a.webhook:
        try:
            fwd = Forwarder(a.webhook, lang=a.lang)
        except ValueError as e:
            ap.error(str(e))
    secret = a.pay_secret or os.environ.get("HUB_PAY_SECRET")
    try:
        provider = TestProvider(bytes.fromhex(secret) if secret else None)
    except ValueError:
        ap.error("--pay-secret: not hex")
    db = Db(a.db)
    hub = Hub(db, broker, provider, name=a.name, group=a.group, forwarder=fwd, lang=a.lang,
              cmd_ttl_s=a.cmd_ttl, user=a.mqtt_user,
              password=os.environ.get("HUB_MQTT_PASSWORD"))
    hub.start()
    print("hub %s: broker %s:%d, web http://%s:%d/duty, db %s" % (
        hub.name, broker[0], broker[1], host, port, a.db), flush=True)
    try:
        uvicorn.run(make_app(hub, lang=a.lang), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=2)
    finally:
        hub.close()
    return 0


def cabinet_add(ap: argparse.ArgumentParser, a):
    key = a.key
    if a.from_file:
        try:
            rec = json.load(open(a.from_file))
        except (OSError, ValueError) as e:
            ap.error("--from %s: %s" % (a.from_file, e))
        key = rec.get("cmd_key")
        a.prefix = rec.get("mqtt_prefix", a.prefix)
        if a.id != rec.get("cabinet_id"):
            ap.error("--from %s is for cabinet %r, not %r" % (a.from_file,
                                                              rec.get("cabinet_id"), a.id))
    if not key:
        ap.error("--key HEX (the cabinet's cmd_key) or --from server_key.json is required")
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        ap.error("--key: not hex")
    if not 8 <= len(raw) <= 64:
        ap.error("--key: 16-128 hex digits (the cabinet's cmd_key)")
    if not 1 <= a.ports <= 16:
        ap.error("--ports %d: 1-16" % a.ports)
    db = Db(a.db)
    db.create()
    with db.tx() as cur:
        new = cabinets.register(cur, a.id, key, a.prefix, a.ports, a.energy_fen_per_kwh,
                                a.service_fen_per_kwh, a.port_limit_w)
    print("cabinet %s (%s/%s, %d ports) %s" % (a.id, a.prefix, a.id, a.ports,
                                               "added" if new else "updated"))
    return 0


def user_add(ap: argparse.ArgumentParser, a):
    from . import users
    pw = a.password or os.environ.get("HUB_PASSWORD")
    if pw is None and sys.stdin.isatty():
        pw = getpass.getpass("password for %s (empty: API token only): " % a.name) or None
    db = Db(a.db)
    db.create()
    try:
        with db.tx() as cur:
            token = users.add(cur, a.name, a.role, pw)
    except users.UserError as e:
        ap.error(str(e))
    print("user %s (%s)%s; API token: %s" % (a.name, a.role, ", web login set" if pw else "",
                                             token))
    return 0


def main(argv=None):
    ap = build_parser()
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        if a.cmd == "serve":
            return serve(ap, a)
        if a.cmd == "cabinet" and a.action == "add":
            return cabinet_add(ap, a)
        if a.cmd == "user":
            return user_add(ap, a)
        db = Db(a.db)
        db.create()
        if a.cmd == "cabinet":
            for r in db.all("SELECT id, prefix, ports FROM cabinets ORDER BY id"):
                print("%s\t%s\t%d ports" % (r["id"], r["prefix"], r["ports"]))
        elif a.cmd == "card":
            with db.tx() as cur:
                if a.action == "put":
                    kind = "pass" if a.pass_days else "prepaid"
                    until = int(time.time() + a.pass_days * 86400) if a.pass_days else None
                    c = cards_mod.put(cur, a.card, kind, a.balance_fen, until)
                    print("card %s: %s" % (c, kind))
                else:
                    cards_mod.block(cur, a.card)
                    print("card %s blocked" % cards_mod.norm(a.card))
        elif a.cmd == "export":
            from . import ledger
            with db.tx() as cur:
                sys.stdout.write(ledger.export_day(cur, a.day, a.format))
        return 0
    except cards_mod.CardError as e:
        ap.error(str(e))
    except DbError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
