"""The ledger: every session record and alarm stored once, keyed by its wire `id`.

`store(db, cabinet, kind, rec, hub)` inserts the raw record with ON CONFLICT DO NOTHING
and, only when this call inserted it, applies it to the `sessions` / `alarms` tables
in the same transaction; it returns True for a new record, False for a redelivery.
Sessions are joined to orders by the record's `order`. A start without an end is
flagged `no_end` when the same port starts a newer session, or when it is older than
the longest session a cabinet allows (`reconcile`).
"""

import calendar
import csv
import io
import json
import time

from . import orders

MAX_SESSION_S = 43200  # firmware/system/config.py max_session_s default
RECONCILE_MARGIN_S = 3600  # the outbox's backlog delay and a reconnect, with room
WIRE_SESSION_FIELDS = ("sid", "port", "start", "end", "charge_s", "wh", "fen", "energy_fen",
                       "service_fen", "reason", "peak_w", "auth", "order")


class BadRecord(ValueError):
    pass


def _req(rec, key, types):
    v = rec.get(key)
    if not isinstance(v, types) or isinstance(v, bool):
        raise BadRecord("%s: %r is not %s" % (key, v, types))
    return v


def store(cur, cabinet, kind, rec, hub, received=None):
    """Store one record in the open transaction `cur`. Returns True when new."""
    rid = _req(rec, "id", str)
    if kind == "event":
        ev = rec.get("ev")
        if ev not in ("session_start", "session_end"):
            raise BadRecord("ev: %r is not session_start or session_end" % ev)
        _req(rec, "sid", str)
        _req(rec, "port", int)
        kind = ev
    elif kind == "alarm":
        _req(rec, "code", str)
    else:
        raise BadRecord("kind %r" % kind)
    received = time.time() if received is None else received
    n = cur.run("INSERT INTO records (id, cabinet, kind, body, received, hub) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (rid, cabinet, kind, json.dumps(rec, sort_keys=True), received, hub))
    if n != 1:
        return False
    if kind == "alarm":
        _alarm(cur, cabinet, rec, received)
    elif kind == "session_start":
        _start(cur, cabinet, rec)
    else:
        _end(cur, cabinet, rec)
    return True


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _alarm(cur, cabinet, rec, received):
    port = rec.get("port") if isinstance(rec.get("port"), int) else None
    cur.run("INSERT INTO alarms (id, cabinet, code, port, level, state, value, t, body, "
            "received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (rec["id"], cabinet, rec["code"], port, str(rec.get("level")),
             str(rec.get("state")), _num(rec.get("value")), _num(rec.get("t")),
             json.dumps(rec, sort_keys=True), received))


def _card_order(cur, cabinet, rec):
    """The card order opened by the auth answer for this card and port (the cabinet's
    resident flow does not carry the auth_result's order into the session)."""
    auth = rec.get("auth")
    if not isinstance(auth, str) or not auth.startswith("card:"):
        return None
    row = cur.one("SELECT id FROM orders WHERE client = ? AND cabinet = ? AND port = ? AND "
                  "state = 'sent' AND pay_state = 'card' ORDER BY created DESC LIMIT 1",
                  (auth, cabinet, rec.get("port")))
    return row["id"] if row else None


def _start(cur, cabinet, rec):
    body = json.dumps(rec, sort_keys=True)
    order = rec.get("order") if isinstance(rec.get("order"), str) else None
    order = order or _card_order(cur, cabinet, rec)
    n = cur.run("UPDATE sessions SET start_t = ?, auth = ?, start_body = ?, "
                "order_id = COALESCE(order_id, ?) WHERE cabinet = ? AND sid = ?",
                (_num(rec.get("start")), rec.get("auth"), body, order, cabinet, rec["sid"]))
    if n == 0:
        cur.run("INSERT INTO sessions (sid, cabinet, port, start_t, auth, order_id, "
                "start_body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec["sid"], cabinet, rec["port"], _num(rec.get("start")), rec.get("auth"),
                 order, body))
    # an older session on this port that never ended: its end record is lost
    cur.run("UPDATE sessions SET flag = 'no_end' WHERE cabinet = ? AND port = ? AND sid <> ? "
            "AND end_body IS NULL AND flag IS NULL AND start_t < ?",
            (cabinet, rec["port"], rec["sid"], _num(rec.get("start")) or 0))
    if order:
        cur.run("UPDATE orders SET state = 'started', sid = ?, started_at = ?, updated = ? "
                "WHERE id = ? AND cabinet = ? AND state IN ('sent', 'refused')",
                (rec["sid"], time.time(), time.time(), order, cabinet))


def _end(cur, cabinet, rec):
    body = json.dumps(rec, sort_keys=True)
    order = rec.get("order") if isinstance(rec.get("order"), str) else None
    if order is None:
        row = cur.one("SELECT order_id FROM sessions WHERE cabinet = ? AND sid = ?",
                      (cabinet, rec["sid"]))
        order = row["order_id"] if row else _card_order(cur, cabinet, rec)
    args = (_num(rec.get("end")), _num(rec.get("wh")), _num(rec.get("fen")),
            _num(rec.get("energy_fen")), _num(rec.get("service_fen")), rec.get("reason"),
            body)
    n = cur.run("UPDATE sessions SET end_t = ?, wh = ?, fen = ?, energy_fen = ?, "
                "service_fen = ?, reason = ?, end_body = ?, flag = NULL "
                "WHERE cabinet = ? AND sid = ?", args + (cabinet, rec["sid"]))
    if n == 0:  # the start record is late or lost: the end carries start, auth, order
        cur.run("INSERT INTO sessions (sid, cabinet, port, start_t, auth, order_id, end_t, "
                "wh, fen, energy_fen, service_fen, reason, end_body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec["sid"], cabinet, rec["port"], _num(rec.get("start")), rec.get("auth"),
                 order) + args)
    if order is not None:
        orders.on_session_end(cur, cabinet, dict(rec, order=order))


def reconcile(cur, now=None):
    """Flag starts without an end older than the longest session allows. Returns count."""
    now = time.time() if now is None else now
    return cur.run("UPDATE sessions SET flag = 'no_end' WHERE end_body IS NULL AND flag IS NULL "
                   "AND start_t < ?", (now - MAX_SESSION_S - RECONCILE_MARGIN_S,))


def sessions(cur, cabinet=None, limit=1000):
    """The stored session records, as on the wire: the end record when there is one."""
    q = "SELECT start_body, end_body, flag, order_id FROM sessions"
    args = ()
    if cabinet is not None:
        q += " WHERE cabinet = ?"
        args = (cabinet,)
    q += " ORDER BY start_t DESC, sid LIMIT ?"
    out = []
    for r in cur.all(q, args + (limit,)):
        rec = json.loads(r["end_body"] or r["start_body"])
        if r["flag"]:
            rec["flag"] = r["flag"]
        out.append(rec)
    return out


def alarms(cur, cabinet=None, limit=1000):
    q = "SELECT cabinet, body, acked_by, acked_at FROM alarms"
    args = ()
    if cabinet is not None:
        q += " WHERE cabinet = ?"
        args = (cabinet,)
    q += " ORDER BY received DESC LIMIT ?"
    out = []
    for r in cur.all(q, args + (limit,)):
        rec = json.loads(r["body"])
        if cabinet is None:
            rec["cabinet"] = r["cabinet"]
        if r["acked_by"]:
            rec["acked_by"] = r["acked_by"]
        out.append(rec)
    return out


def export_day(cur, day, fmt="csv", tz_offset_h=8):
    """Sessions that ended on local day `day` (YYYY-MM-DD), per cabinet, as CSV or JSON."""
    t0 = calendar.timegm(time.strptime(day, "%Y-%m-%d")) - tz_offset_h * 3600
    rows = cur.all("SELECT cabinet, end_body FROM sessions WHERE end_body IS NOT NULL AND "
                   "end_t >= ? AND end_t < ? ORDER BY cabinet, end_t, sid", (t0, t0 + 86400))
    recs = []
    for r in rows:
        rec = json.loads(r["end_body"])
        recs.append(dict({"cabinet": r["cabinet"]},
                         **{k: rec.get(k) for k in WIRE_SESSION_FIELDS}))
    if fmt == "json":
        per = {}
        for r in recs:
            per.setdefault(r["cabinet"], []).append(r)
        return json.dumps({"day": day, "tz_offset_h": tz_offset_h, "cabinets": per},
                          ensure_ascii=False, indent=1)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("cabinet",) + WIRE_SESSION_FIELDS)
    for r in recs:
        w.writerow([r["cabinet"]] + [_csv(r[k]) for k in WIRE_SESSION_FIELDS])
    return buf.getvalue()


def _csv(v):
    return "" if v is None else v
