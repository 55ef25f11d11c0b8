"""Load test: light protocol-level cabinets (tools/hub/lightcab.py) through mosquitto into
two hub processes on PostgreSQL; one hub is killed (SIGKILL) mid-run and started again
under the same MQTT client id. Prints records per second, p99 order-to-start, records
lost and stored twice, and hub memory per 1 000 cabinets; exits 1 when anything was lost
or stored twice or an order never started.

    .venv/bin/python -m tools.hub.loadtest [--cabinets 1000] [--records 6] [--orders 200]
                                           [--db postgresql://...] [--json FILE]

Without --db it starts a throwaway PostgreSQL cluster (tools/hub/pgtmp.py).
"""

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import psutil

from . import cabinets as cabinets_mod
from .db import Db
from .lightcab import LightCabinet
from .pgtmp import Postgres, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOSQUITTO = "/usr/sbin/mosquitto"
ORDER_PORT = 9  # records use ports 0-8; orders port 9 (10-port cabinets)
CONNECT_AT_ONCE = 50


def start_broker(work):
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\nmax_inflight_messages 100\nlog_dest stderr\n"
                "log_type error\nuser %s\n" % (port, os.environ.get("USER") or "root"))
    p = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(work, "broker.log"), "w"))
    wait(lambda: _listening(port), 10, "mosquitto")
    return p, port


def _listening(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def wait(fn, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise SystemExit("loadtest: no %s within %s s" % (what, timeout))


def http(method, url, body=None, timeout=10, headers=None):
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class HubProcess:
    def __init__(self, name, db, broker_port, work):
        self.name, self.db, self.broker_port, self.work = name, db, broker_port, work
        self.http_port = free_port()
        self.url = "http://127.0.0.1:%d" % self.http_port
        self.start()

    def start(self):
        self.p = subprocess.Popen(
            [sys.executable, "-m", "tools.hub", "serve", "--db", self.db, "--broker",
             "127.0.0.1:%d" % self.broker_port, "--http", "127.0.0.1:%d" % self.http_port,
             "--name", self.name], cwd=ROOT, stdout=open(os.path.join(
                 self.work, self.name + ".log"), "a"), stderr=subprocess.STDOUT)
        wait(self.up, 30, "hub %s up" % self.name)

    def up(self):
        try:
            return http("GET", self.url + "/healthz", timeout=2)[1].get("mqtt")
        except OSError:
            return False

    def health(self):
        return http("GET", self.url + "/healthz")[1]

    def rss(self):
        return psutil.Process(self.p.pid).memory_info().rss

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()


async def order_to_start(hubs, cab, stats, phone):
    """POST an order to a hub (the next one if it is down); timed from the database."""
    hubs = hubs[phone % 2:] + hubs[:phone % 2]  # residents land on either process
    for h in hubs:
        try:
            st, o = await asyncio.to_thread(http, "POST", h.url + "/api/orders", {
                "cabinet": cab.id, "port": ORDER_PORT, "limit": {"minutes": 60}},
                headers={"Cookie": "phone=load-%d" % phone})
        except OSError:
            continue
        if st == 201:
            break
        stats["order_errors"].append((st, o))
        return
    else:
        stats["order_errors"].append(("no hub", None))
        return
    stats["orders"].append(o["order"])  # timed from the database at the end


async def burst(cabs, n, code):
    for c in cabs:
        for _ in range(n):
            c.alarm(code, 0)
        await c._w().drain()


async def drive(a, cabs, hubs, log, db):
    stop = asyncio.Event()
    sem = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def connect(c):
        async with sem:
            await c.connect()
    await asyncio.gather(*(connect(c) for c in cabs))
    readers = [asyncio.create_task(c.run(stop)) for c in cabs]
    log("connected %d cabinets" % len(cabs))
    stats: dict[str, Any] = {"orders": [], "order_errors": []}
    rng = random.Random(7)
    plan = []  # (when s, cabinet, action)
    for c in cabs:
        for k in range(a.records // 2):
            t = rng.uniform(0, a.seconds * 0.9)
            plan.append((t, c, "start", k % 9))
            plan.append((t + rng.uniform(0.1, a.seconds * 0.1), c, "end", k % 9))
        if a.records % 2:
            plan.append((rng.uniform(0, a.seconds), c, "alarm", 0))
    plan.sort(key=lambda x: x[0])
    order_cabs = rng.sample(cabs, min(a.orders, len(cabs)))
    order_at = sorted(rng.uniform(0, a.seconds * 0.9) for _ in order_cabs)
    t0 = time.monotonic()
    killed = restarted = False
    tasks = []
    oi = 0
    for when, c, what, port in plan:
        while oi < len(order_cabs) and order_at[oi] <= when:
            tasks.append(asyncio.create_task(order_to_start(hubs, order_cabs[oi], stats, oi)))
            oi += 1
        delay = t0 + when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if not killed and when > a.seconds * 0.4 and a.kill:
            log("killing %s (SIGKILL) at %.1f s" % (hubs[1].name, time.monotonic() - t0))
            await asyncio.to_thread(hubs[1].kill)
            killed, kill_t = True, time.monotonic()
            stats["kill_wall"] = time.time()
        if killed and not restarted and time.monotonic() - kill_t > 3:
            await asyncio.to_thread(hubs[1].start)
            stats["restart_wall"] = time.time()
            log("restarted %s at %.1f s" % (hubs[1].name, time.monotonic() - t0))
            restarted = True
        if what == "start":
            c.session_start(port, "card:04A1B2C3")
        elif what == "end" and port in c.sessions:
            c.session_end(port)
        elif what == "alarm":
            c.alarm()
        await c._w().drain()
    for i in range(oi, len(order_cabs)):
        tasks.append(asyncio.create_task(order_to_start(hubs, order_cabs[i], stats, i)))
    if a.kill and not restarted:
        await asyncio.to_thread(hubs[1].start)
    await asyncio.gather(*tasks)
    # records the broker has not acknowledged yet go again (at-least-once)
    end = time.monotonic() + 60
    while any(c.pending for c in cabs) and time.monotonic() < end:
        await asyncio.sleep(0.2)
    # deliberate duplicates: 1% of the records again, as after a cabinet's power cut
    dups = 0
    for c in rng.sample(cabs, max(1, len(cabs) // 10)):
        if c.acked:
            c.resend(rng.choice(sorted(c.acked)))
            dups += 1
    # a district back online: every cabinet sends a backlog at once (door_open alarms);
    # the drain rate of this burst is the records-per-second figure
    stats["burst_t0"] = time.time()
    await burst(cabs, a.burst, "door_open")
    end = time.monotonic() + 60
    while time.monotonic() < end and await asyncio.to_thread(
            db.scalar, "SELECT COUNT(*) FROM alarms WHERE code = 'door_open'") < \
            a.burst * len(cabs):
        await asyncio.sleep(0.1)
    # a second burst (mains_voltage), and a hub killed in the middle of draining it: the
    # records it had taken but not stored come again when it is back under its name
    # (acknowledged only after the commit)
    await burst(cabs, a.burst, "mains_voltage")
    if a.kill:
        end = time.monotonic() + 5  # until it holds records taken but not yet stored
        queued = 0
        while time.monotonic() < end and queued < 20:
            queued = (await asyncio.to_thread(hubs[0].health)).get("queued", 0)
        log("burst: killing %s (SIGKILL) holding %d records not yet stored"
            % (hubs[0].name, queued))
        await asyncio.to_thread(hubs[0].kill)
        await asyncio.sleep(2)
        await asyncio.to_thread(hubs[0].start)
        log("burst: restarted %s" % hubs[0].name)
    end = time.monotonic() + 60
    while any(c.pending for c in cabs) and time.monotonic() < end:
        await asyncio.sleep(0.2)
    stats["publish_s"] = time.monotonic() - t0
    stats["deliberate_dups"] = dups
    stop.set()
    for c in cabs:
        await c.close()
    for r in readers:
        r.cancel()
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m tools.hub.loadtest")
    ap.add_argument("--cabinets", type=int, default=1000)
    ap.add_argument("--records", type=int, default=7, help="records per cabinet (7)")
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0, help="load phase length (20)")
    ap.add_argument("--burst", type=int, default=5, help="backlog records per cabinet sent "
                    "at once at the end (5)")
    ap.add_argument("--db", help="postgresql:// URL (default: a throwaway cluster)")
    ap.add_argument("--no-kill", dest="kill", action="store_false")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.cabinets + 1024)),
                                                hard))
    work = tempfile.mkdtemp(prefix="hub-load-")
    t_start = time.time()

    def log(msg):
        print("[%6.1f s] %s" % (time.time() - t_start, msg), flush=True)
    pg = None
    broker = None
    hubs = []
    try:
        if a.db is None:
            pg = Postgres()
            a.db = pg.url
        db = Db(a.db)
        db.create()
        with db.tx() as cur:
            for t in ("records", "sessions", "orders", "commands", "alarms", "cabinets"):
                cur.run("DELETE FROM %s" % t)
        keys = {}
        with db.tx() as cur:
            for i in range(a.cabinets):
                cid = "load-%04d" % i
                keys[cid] = secrets.token_bytes(32)
                cabinets_mod.register(cur, cid, keys[cid].hex())
        broker, bport = start_broker(work)
        hubs = [HubProcess("hub-a", a.db, bport, work), HubProcess("hub-b", a.db, bport, work)]
        rss0 = [h.rss() for h in hubs]
        log("2 hubs up (RSS %s MiB), %d cabinets registered" % (
            "/".join("%.0f" % (r / 2**20) for r in rss0), a.cabinets))
        cabs = [LightCabinet(cid, k, "127.0.0.1", bport) for cid, k in keys.items()]
        stats = asyncio.run(drive(a, cabs, hubs, log, db))
        expected = {(c.id, rid) for c in cabs for rid in c.acked}
        wait_end = time.time() + 120
        while time.time() < wait_end:
            n = db.scalar("SELECT COUNT(*) AS n FROM records")
            if n >= len(expected):
                break
            time.sleep(0.5)
        stored = {(r["cabinet"], r["id"]) for r in db.all("SELECT cabinet, id FROM records")}
        twice = db.scalar("SELECT COUNT(*) AS n FROM (SELECT cabinet, id FROM records GROUP BY "
                          "cabinet, id HAVING COUNT(*) > 1) d")
        sessions_twice = db.scalar("SELECT COUNT(*) AS n FROM (SELECT cabinet, sid FROM "
                                   "sessions GROUP BY cabinet, sid HAVING COUNT(*) > 1) d")
        first = db.scalar("SELECT MIN(received) FROM records")
        last = db.scalar("SELECT MAX(received) FROM records")
        live = [h.health()["cabinets_live"] for h in hubs]
        rss1 = [h.rss() for h in hubs]
        per_hub = {r["hub"]: r["n"] for r in db.all("SELECT hub, COUNT(*) AS n FROM records "
                                                    "GROUP BY hub")}
        wait_end = time.time() + 60
        while time.time() < wait_end and db.scalar(
                "SELECT COUNT(*) AS n FROM orders WHERE started_at IS NULL"):
            time.sleep(0.5)
        rows = db.all("SELECT id, created, started_at, state FROM orders")
        for r in rows:
            if r["started_at"] is None:
                stats["order_errors"].append((r["state"], r["id"]))
        # POST received -> session_start stored with the order: both on the hubs' clock
        orders_s = sorted(r["started_at"] - r["created"] for r in rows if r["started_at"])
        stats["slow"] = sorted(((round(r["started_at"] - r["created"], 2),
                                 round(r["created"] - stats.get("kill_wall", 0), 2))
                                for r in rows if r["started_at"]), reverse=True)[:5]
        k0, k1 = stats.get("kill_wall", 0) - 1, stats.get("restart_wall", 0) + 2
        calm = sorted(r["started_at"] - r["created"] for r in rows if r["started_at"]
                      and not k0 <= r["created"] <= k1)
        p99 = orders_s[min(len(orders_s) - 1, int(len(orders_s) * 0.99))] if orders_s else None
        fig = {
            "cabinets": a.cabinets, "records_expected": len(expected),
            "records_stored": len(stored), "lost": len(expected - stored),
            "stored_twice": twice + sessions_twice, "unexpected": len(stored - expected),
            "burst_records_per_s": round(a.burst * a.cabinets / max(0.001, db.scalar(
                "SELECT MAX(received) FROM alarms WHERE code = 'door_open'")
                - stats["burst_t0"]), 1),
            "load_phase_records_per_s": round(len(stored) / max(0.001, last - first),
                                              1),
            "stored_by_hub": per_hub, "hub_killed": a.kill,
            "deliberate_duplicates": stats["deliberate_dups"],
            "orders": len(orders_s), "order_errors": len(stats["order_errors"]),
            "order_to_start_p50_ms": round(orders_s[len(orders_s) // 2] * 1000) if orders_s
            else None,
            "order_to_start_p99_ms": round(p99 * 1000) if p99 is not None else None,
            "order_to_start_p99_ms_outside_kill": round(
                calm[min(len(calm) - 1, int(len(calm) * 0.99))] * 1000) if calm else None,
            "hub_rss_mib": [round(r / 2**20, 1) for r in rss1],
            "hub_mib_per_1000_cabinets": round(max(
                (r1 - r0) for r0, r1 in zip(rss0, rss1)) / 2**20 * 1000 / a.cabinets, 1),
            "cabinets_live_per_hub": live,
        }
        fig["slowest_orders_s_and_created_vs_kill_s"] = stats["slow"]
        if stats["order_errors"]:
            fig["order_error_sample"] = stats["order_errors"][:3]
        print("LOADTEST " + json.dumps(fig), flush=True)
        for k, v in fig.items():
            print("  %-28s %s" % (k, v))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(fig, f, indent=1)
        ok = fig["lost"] == 0 and fig["stored_twice"] == 0 and not stats["order_errors"]
        return 0 if ok else 1
    finally:
        for h in hubs:
            h.stop()
        if broker is not None:
            broker.terminate()
            broker.wait()
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
