"""Orders from the resident page: checked, prepaid through the payment seam, started by a
signed `start`, settled (the bill and the refund of the unused prepayment) at the end.

Prepayment: the most the chosen limit can cost at the cabinet's tariff (a money limit is
its own amount; energy at both fees; time at the port's power limit; "until full" at the
longest session), so the bill never exceeds it and the unused part is refunded.
"""

import json
import math
import secrets
import time

from .commands import CommandError

LIMIT_KEYS = ("minutes", "wh", "fen", "full")
LIMIT_MAX = 1000000  # the cabinet's own bound (docs/protocol.md, start)
MAX_SESSION_S = 43200
NO_REPLY_S = 60  # a start with no reply this long: refused (no_reply), refunded
ORDERS_PER_MIN = 5  # per client (phone cookie and address), across hub processes
OPEN_STATES = ("sent", "started")


class OrderError(ValueError):
    def __init__(self, status, code, text):
        ValueError.__init__(self, text)
        self.status, self.code = status, code


def check_limit(limit):
    if not isinstance(limit, dict) or len(limit) != 1:
        raise OrderError(400, "bad_limit", "limit: an object with exactly one of "
                         "minutes, wh, fen (whole numbers 1-%d) or full (true)" % LIMIT_MAX)
    (k, v), = limit.items()
    if k not in LIMIT_KEYS:
        raise OrderError(400, "bad_limit", "limit: unknown key %r; use one of %s"
                         % (k[:40], ", ".join(LIMIT_KEYS)))
    if k == "full":
        if v is not True:
            raise OrderError(400, "bad_limit", "limit.full: must be true")
    elif isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= LIMIT_MAX:
        raise OrderError(400, "bad_limit", "limit.%s: %r is not a whole number 1-%d"
                         % (k, v if not isinstance(v, str) else v[:40], LIMIT_MAX))
    return {k: v}


def prepay_fen(limit, cab):
    per_kwh = cab["energy_fen_per_kwh"] + cab["service_fen_per_kwh"]
    cap_kwh = cab["port_limit_w"] / 1000.0 * MAX_SESSION_S / 3600.0
    (k, v), = limit.items()
    if k == "fen":
        return v
    if k == "wh":
        kwh = min(v / 1000.0, cap_kwh)
    elif k == "minutes":
        kwh = min(cab["port_limit_w"] / 1000.0 * v / 60.0, cap_kwh)
    else:
        kwh = cap_kwh
    return max(1, int(math.ceil(kwh * per_kwh)))


def tariff(cab):
    return {"energy_fen_per_kwh": cab["energy_fen_per_kwh"],
            "service_fen_per_kwh": cab["service_fen_per_kwh"]}


def create(cur, commander, provider, body, client, port_state=None, now=None):
    """Validate and insert an order, take the prepayment, sign the start. Returns
    (order row dict, (topic, token)) - the caller publishes after the commit."""
    now = time.time() if now is None else now
    if not isinstance(body, dict):
        raise OrderError(400, "bad_json", "the body must be a JSON object")
    unknown = sorted(set(body) - {"cabinet", "port", "limit"})
    if unknown:
        raise OrderError(400, "bad_field", "unknown field %r" % unknown[0][:40])
    cabinet = body.get("cabinet")
    if not isinstance(cabinet, str) or not 1 <= len(cabinet) <= 32:
        raise OrderError(400, "bad_cabinet", "cabinet: a cabinet id string is required")
    try:
        cab = commander.cabinet(cur, cabinet)
    except CommandError:
        raise OrderError(404, "unknown_cabinet", "cabinet %r is not on this hub"
                         % cabinet) from None
    port = body.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < cab["ports"]:
        raise OrderError(400, "bad_port", "port: %r is not a port of %s (0-%d)"
                         % (port if not isinstance(port, str) else port[:20], cabinet,
                            cab["ports"] - 1))
    limit = check_limit(body.get("limit"))
    recent = cur.one("SELECT COUNT(*) AS n FROM orders WHERE client = ? AND created > ?",
                     (client, now - 60))["n"]
    if recent >= ORDERS_PER_MIN:
        raise OrderError(429, "rate_limited", "at most %d orders a minute from one phone"
                         % ORDERS_PER_MIN)
    busy = cur.one("SELECT id FROM orders WHERE cabinet = ? AND port = ? AND state IN "
                   "('sent', 'started') AND updated > ?", (cabinet, port,
                                                          now - MAX_SESSION_S - 3600))
    if busy is not None or port_state in ("open", "charging", "float", "deferred"):
        raise OrderError(409, "port_busy", "port %d of %s is in use" % (port, cabinet))
    if port_state in ("fault", "locked"):
        raise OrderError(409, "port_" + ("locked" if port_state == "locked" else "fault"),
                         "port %d of %s is %s" % (port, cabinet, port_state))
    oid = "qr-%s" % secrets.token_hex(6)
    amount = prepay_fen(limit, cab)
    pay_id, paid = provider.create(oid, amount)
    tar = tariff(cab)
    cur.run("INSERT INTO orders (id, cabinet, port, limit_json, tariff_json, prepay_fen, state, "
            "pay_id, pay_state, client, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)", (oid, cabinet, port, json.dumps(limit), json.dumps(tar), amount,
                      "sent" if paid else "unpaid", pay_id, "paid" if paid else "pending",
                      client, now, now))
    out = None
    if paid:
        out = send_start(cur, commander, oid)
    return get(cur, oid), out


def send_start(cur, commander, oid):
    o = cur.one("SELECT cabinet, port, limit_json, tariff_json FROM orders WHERE id = ?", (oid,))
    jti, topic, token = commander.send(
        cur, o["cabinet"], "start", {"port": o["port"], "limit": json.loads(o["limit_json"]),
                                     "order": oid, "tariff": json.loads(o["tariff_json"])},
        who="resident", order=oid)
    cur.run("UPDATE orders SET state = 'sent', jti = ?, sent_at = ?, updated = ? WHERE id = ?",
            (jti, time.time(), time.time(), oid))
    return topic, token


PUBLIC = ("id", "cabinet", "port", "state", "sid", "error", "wh", "fen", "energy_fen",
          "service_fen", "refund_fen", "prepay_fen", "reason", "pay_state", "created")


def get(cur, oid):
    row = cur.one("SELECT * FROM orders WHERE id = ?", (oid,))
    if row is None:
        return None
    out = {k: row[k] for k in PUBLIC}
    out["order"] = out.pop("id")
    out["session"] = out.pop("sid")
    out["limit"] = json.loads(row["limit_json"])
    out["tariff"] = json.loads(row["tariff_json"])
    return out


def on_session_end(cur, cabinet, rec):
    """Bill an order from its session_end: both fees, the refund of the rest."""
    oid = rec.get("order")
    if not isinstance(oid, str):
        return
    fen = rec.get("fen") if isinstance(rec.get("fen"), int) else 0
    efen, sfen = rec.get("energy_fen"), rec.get("service_fen")
    if not isinstance(efen, int) or not isinstance(sfen, int):
        efen, sfen = split_fees(cur, oid, rec.get("wh"), fen)
    cur.run("UPDATE orders SET state = 'ended', sid = ?, wh = ?, fen = ?, energy_fen = ?, "
            "service_fen = ?, reason = ?, refund_fen = CASE WHEN prepay_fen > ? THEN "
            "prepay_fen - ? ELSE 0 END, updated = ? WHERE id = ? AND cabinet = ? AND "
            "state <> 'ended'",
            (rec.get("sid"), rec.get("wh"), fen, efen, sfen,
             rec.get("reason"), fen, fen, time.time(), oid, cabinet))


def split_fees(cur, oid, wh, fen):
    """The two fees of a bill from a cabinet whose session_end carries only `fen`: the
    electricity at the order's tariff (rounded down, as firmware/core/billing.py does), the
    service fee the rest."""
    row = cur.one("SELECT tariff_json FROM orders WHERE id = ?", (oid,))
    tar = json.loads(row["tariff_json"]) if row else {}
    e, s = tar.get("energy_fen_per_kwh"), tar.get("service_fen_per_kwh")
    if not isinstance(wh, (int, float)) or not e or not s:
        return None, None
    energy = min(fen, int(wh * e / 1000.0))
    return energy, fen - energy


def expire(cur, now=None):
    """Orders whose start got no reply within NO_REPLY_S: refused, refund in full."""
    now = time.time() if now is None else now
    return cur.run("UPDATE orders SET state = 'refused', error = 'no_reply', refund_fen = "
                   "prepay_fen, updated = ? WHERE state = 'sent' AND sent_at < ? AND jti IN "
                   "(SELECT jti FROM commands WHERE replied IS NULL)", (now, now - NO_REPLY_S))


def refunds_due(cur):
    """Orders to settle: ended with money left, or refused. Marks them; returns rows."""
    cur.run("UPDATE orders SET refund_fen = prepay_fen WHERE state = 'refused' AND "
            "refund_fen IS NULL")
    rows = cur.all("SELECT id, pay_id, pay_state, refund_fen, client FROM orders WHERE "
                   "state IN ('ended', 'refused') AND pay_state IN ('paid', 'card')")
    for r in rows:
        cur.run("UPDATE orders SET pay_state = ? WHERE id = ? AND pay_state = ?",
                ("refunded" if r["refund_fen"] else "settled", r["id"], r["pay_state"]))
    return rows
