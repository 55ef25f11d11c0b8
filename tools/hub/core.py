"""One hub process: the database, the MQTT side and the settling loop, shared by the web.

MQTT (paho, its own thread, MQTT 3.1.1, a persistent session under a fixed client id):
the work that must be done once - records, alarms, auth requests, replies - comes through
the shared subscription `$share/<group>/+/+/<kind>`, so several hub processes split the
cabinets' messages; every process also takes every status and telemetry (plain
subscriptions) for its live views. QoS 1 messages are acknowledged by hand after their
transaction commits: a hub killed mid-message leaves it un-acked in its session and the
broker delivers it again; the database's unique record id keeps it stored once.
"""

import json
import logging
import queue
import secrets
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tools.monitor.model import Model

from . import cards, ledger, orders
from .commands import Commander, CommandError, dumps

log = logging.getLogger("hub")
SHARED = ("event", "alarm", "auth", "reply")
LIVE = (("status", 1), ("telemetry", 0))
SWEEP_S = 1.0
RECONCILE_S = 60.0
DB_RETRY_S = (0.2, 0.5, 1, 2, 5)  # then the link is cut: the broker re-delivers
BATCH_MAX = 200  # records stored in one transaction (group commit), then acknowledged


class Hub:
    def __init__(self, db, broker, provider, name=None, group="hub", forwarder=None,
                 lang="zh", cmd_ttl_s=None, keepalive_s=30, user=None, password=None):
        self.db, self.broker, self.provider = db, broker, provider
        self.name = name or "hub-" + secrets.token_hex(3)
        self.group, self.forwarder, self.lang = group, forwarder, lang
        self.model = Model("*", "*")
        self.model_lock = threading.Lock()
        self.commander = Commander(db, self.publish, self.cabinet_clock,
                                   **({"ttl_s": cmd_ttl_s} if cmd_ttl_s else {}))
        self.known = {}  # cabinet id -> prefix
        self.known_at = 0.0
        self.stats = {"records": 0, "duplicates": 0, "bad": 0, "auth": 0, "replies": 0,
                      "auth_ms_max": 0.0, "unknown": 0, "db_retries": 0}
        self.cards_seen = None  # (offline list, blocked list) last pushed
        self.stop_ev = threading.Event()
        self.connected = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.name,
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if user:
            self.c.username_pw_set(user, password)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(10000)
        self.c.reconnect_delay_set(1, 10)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.c.on_message = self._on_message
        self.keepalive_s = keepalive_s
        self.sweeper = threading.Thread(target=self._sweep, name="hub-sweep", daemon=True)
        # records (event, alarm) are stored in batches by one worker; auth requests,
        # replies and birth statuses by another, so a resident waiting at the cabinet never
        # queues behind a district's backlog
        self.records_q, self.urgent_q = queue.Queue(), queue.Queue()
        self.workers = [threading.Thread(target=self._records_worker, name="hub-records",
                                         daemon=True),
                        threading.Thread(target=self._urgent_worker, name="hub-urgent",
                                         daemon=True)]

    # ------------------------------------------------------------ life
    def start(self):
        self.db.create()
        self.refresh_cabinets()
        self.c.connect_async(self.broker[0], self.broker[1], self.keepalive_s)
        for w in self.workers:
            w.start()
        self.c.loop_start()
        self.sweeper.start()

    def close(self):
        self.stop_ev.set()
        self.c.disconnect()
        self.c.loop_stop()
        if self.forwarder is not None:
            self.forwarder.close()

    def _on_connect(self, c, userdata, flags, rc, props=None):
        if rc != 0:
            log.warning("broker refused the connection: %s", rc)
            return
        subs = [("$share/%s/+/+/%s" % (self.group, k), 1) for k in SHARED]
        subs += [("+/+/%s" % k, q) for k, q in LIVE]
        c.subscribe(subs)
        self.connected.set()

    def publish(self, topic, payload, qos=1):
        return self.c.publish(topic, payload, qos=qos)

    # ------------------------------------------------------------ cabinets
    def refresh_cabinets(self):
        rows = self.db.all("SELECT id, prefix FROM cabinets")
        self.known = {r["id"]: r["prefix"] for r in rows}
        self.known_at = time.monotonic()

    def prefix_of(self, cabinet):
        p = self.known.get(cabinet)
        if p is None and time.monotonic() - self.known_at > 2.0:
            self.refresh_cabinets()
            p = self.known.get(cabinet)
        return p

    def cabinet_clock(self, root):
        with self.model_lock:
            c = self.model.cabinets.get(root)
            return c.clock_estimate(time.time()) if c is not None else time.time()

    def live(self, cabinet):
        """{port: {"s", "w", "wh", "fen", "el"}} and online, from this process's telemetry."""
        prefix = self.prefix_of(cabinet)
        with self.model_lock:
            c = self.model.cabinets.get("%s/%s" % (prefix, cabinet))
            if c is None:
                return None, {}
            ports = {p.p: {"s": p.state, "w": p.w, "wh": p.wh, "fen": p.fen, "el": p.el}
                     for p in c.port_list()}
            return c.online, ports

    # ------------------------------------------------------------ messages
    def _on_message(self, c, userdata, m):
        try:
            self._handle(m)
        except Exception:  # noqa: BLE001 - one bad message never stops the link
            log.exception("message on %s", m.topic)
            self.stats["bad"] += 1
            self._ack(m)

    def _ack(self, m):
        if m.qos > 0:
            self.c.ack(m.mid, m.qos)

    def _handle(self, m):
        parts = m.topic.split("/")
        if len(parts) != 3:
            return self._ack(m)
        prefix, cab, kind = parts
        if self.prefix_of(cab) != prefix:
            self.stats["unknown"] += 1
            return self._ack(m)
        if kind in ("status", "telemetry"):
            with self.model_lock:
                self.model.handle(m.topic, m.payload)
            if kind == "status":
                self.urgent_q.put((m, cab, kind, m.payload))
                return None
            return self._ack(m)
        try:
            rec = json.loads(m.payload)
        except ValueError:
            rec = None
        if not isinstance(rec, dict):
            self.stats["bad"] += 1
            return self._ack(m)
        if kind in ("event", "alarm"):
            self.records_q.put((m, cab, kind, rec))
        elif kind in ("auth", "reply"):
            self.urgent_q.put((m, cab, kind, rec))
        else:
            self._ack(m)
        return None

    def _urgent_worker(self):
        while not self.stop_ev.is_set():
            m, cab, kind, rec = self.urgent_q.get()
            try:
                if kind == "status":
                    self._maybe_push_cards(cab, rec)
                    self._ack(m)
                elif kind == "auth":
                    self._with_db([m], lambda c=cab, r=rec: self._auth(c, r))
                else:
                    self._with_db([m], lambda c=cab, r=rec: self._reply(c, r))
            except Exception:  # noqa: BLE001 - one bad message never stops the worker
                log.exception("%s on %s", kind, m.topic)
                self._ack(m)

    def _records_worker(self):
        while not self.stop_ev.is_set():
            batch = [self.records_q.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self.records_q.get_nowait())
                except queue.Empty:
                    break
            try:
                self._records(batch)
                for b in batch:
                    self._ack(b[0])
                continue
            except Exception:  # noqa: BLE001 - the database, or one record it refuses
                log.exception("storing a batch of %d; one by one now", len(batch))
            for b in batch:
                self._with_db([b[0]], lambda b=b: self._records([b]))

    def _with_db(self, msgs, work):
        for delay in DB_RETRY_S + (None,):
            try:
                work()
                for m in msgs:
                    self._ack(m)
                return
            except Exception:  # noqa: BLE001 - the database is away: retry, bounded
                if delay is None or self.stop_ev.is_set():
                    log.exception("database: giving up on %d message(s); reconnecting for "
                                  "redelivery", len(msgs))
                    self.c.reconnect()  # not acked: the persistent session re-delivers
                    return
                self.stats["db_retries"] += 1
                time.sleep(delay)

    def _records(self, batch):
        new, dups, bad = [], 0, 0
        with self.db.tx() as cur:
            for m, cab, kind, rec in batch:
                try:
                    if ledger.store(cur, cab, kind, rec, self.name):
                        new.append((cab, kind, rec))
                    else:
                        dups += 1
                except ledger.BadRecord as e:
                    log.warning("%s: %s", m.topic, e)
                    bad += 1
        self.stats["records"] += len(new)
        self.stats["duplicates"] += dups
        self.stats["bad"] += bad
        settle = False
        for cab, kind, rec in new:
            if kind == "alarm" and self.forwarder is not None and rec.get("level") == "critical":
                self.forwarder.submit(dict(rec, cabinet=cab, root="%s/%s" % (
                    self.known.get(cab), cab)))
            settle = settle or rec.get("ev") == "session_end"
        if settle:
            self.settle()

    def _auth(self, cab, rec):
        t0 = time.monotonic()
        with self.db.tx() as cur:
            args = cards.answer(cur, cab, rec)
            jti, topic, token = self.commander.send(cur, cab, "auth_result", args, who="card")
        self.publish(topic, token)
        ms = (time.monotonic() - t0) * 1000
        self.stats["auth"] += 1
        self.stats["auth_ms_max"] = max(self.stats["auth_ms_max"], ms)

    def _reply(self, cab, rec):
        with self.db.tx() as cur:
            row = self.commander.on_reply(cur, cab, rec)
        if row is not None:
            self.stats["replies"] += 1
            if row["order_id"] and rec.get("ok") is not True:
                self.settle()

    def _maybe_push_cards(self, cab, payload):
        try:
            st = json.loads(payload)
        except ValueError:
            return
        if not isinstance(st, dict) or st.get("online") is not True:
            return
        with self.db.tx() as cur:
            want = cards.offline_list(cur)
        if isinstance(st.get("cards"), int) and st["cards"] == len(want):
            return
        self.push_cards(cab, add=want, remove=self._blocked())

    def _blocked(self):
        with self.db.tx() as cur:
            return cards.blocked_list(cur)

    def push_cards(self, cab, add=(), remove=()):
        for args in cards.batches(add, remove):
            with self.db.tx() as cur:
                _, topic, token = self.commander.send(cur, cab, "cards", args, who="hub")
            self.publish(topic, token)

    def block_card(self, card):
        with self.db.tx() as cur:
            cards.block(cur, card)
        for cab in list(self.known):
            self.push_cards(cab, remove=[cards.norm(card)])

    # ------------------------------------------------------------ commands
    def command(self, cabinet, op, args, who, why=None):
        """A staff command: signed, recorded with who and why, published."""
        if not why or not str(why).strip():
            raise CommandError("bad_args", "why: say why (it is recorded with your name)")
        with self.db.tx() as cur:
            jti, topic, token = self.commander.send(cur, cabinet, op, args, who=who,
                                                    why=str(why)[:500])
        self.publish(topic, token)
        return jti

    def create_order(self, body, client):
        cab = body.get("cabinet") if isinstance(body, dict) else None
        port = body.get("port") if isinstance(body, dict) else None
        state = None
        if isinstance(cab, str) and isinstance(port, int):
            online, ports = self.live(cab)
            if online is False:
                raise orders.OrderError(409, "offline", "cabinet %s is offline" % cab)
            state = ports.get(port, {}).get("s")
        with self.db.tx() as cur:
            o, out = orders.create(cur, self.commander, self.provider, body, client, state)
        if out:
            self.publish(*out)
        return o

    def stop_order(self, oid, client):
        with self.db.tx() as cur:
            o = cur.one("SELECT cabinet, port, state, client FROM orders WHERE id = ?", (oid,))
            if o is None or o["client"] != client:
                raise orders.OrderError(404, "unknown_order", "order %r not found" % oid[:40])
            if o["state"] not in orders.OPEN_STATES:
                raise orders.OrderError(409, "not_running", "order %s is %s" % (oid, o["state"]))
            _, topic, token = self.commander.send(cur, o["cabinet"], "stop",
                                                  {"port": o["port"]}, who="resident",
                                                  why="order %s" % oid)
        self.publish(topic, token)

    # ------------------------------------------------------------ settling
    def settle(self):
        with self.db.tx() as cur:
            due = orders.refunds_due(cur)
        for r in due:
            if not r["refund_fen"]:
                continue
            if r["pay_state"] == "card":
                with self.db.tx() as cur:
                    cards.settle(cur, r["client"][5:], r["refund_fen"])
            else:
                self.provider.refund(r["pay_id"], r["refund_fen"])

    def sync_cards(self):
        """Push what changed in the card table since the last look (this process): new
        cards added, blocked cards removed, on every cabinet. The `cards` op is
        idempotent, so two hub processes pushing the same change is harmless."""
        with self.db.tx() as cur:
            now = (frozenset(cards.offline_list(cur)), frozenset(cards.blocked_list(cur)))
        if self.cards_seen is None:
            self.cards_seen = now  # a cabinet's birth status brings it up to date
            return 0
        add = sorted(now[0] - self.cards_seen[0])
        remove = sorted(now[1] - self.cards_seen[1])
        self.cards_seen = now
        if add or remove:
            for cab in sorted(self.known):
                self.push_cards(cab, add=add, remove=remove)
        return len(add) + len(remove)

    def _sweep(self):
        last_rec = 0.0
        while not self.stop_ev.wait(SWEEP_S):
            try:
                self.sync_cards()
                with self.db.tx() as cur:
                    orders.expire(cur)
                self.settle()
                if time.monotonic() - last_rec > RECONCILE_S:
                    with self.db.tx() as cur:
                        ledger.reconcile(cur)
                    last_rec = time.monotonic()
            except Exception:  # noqa: BLE001 - next sweep tries again
                log.exception("sweep")


def pretty(obj):
    return dumps(obj)
