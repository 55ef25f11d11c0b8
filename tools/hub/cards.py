"""Card authorisation and the offline card list.

`answer(cur, cabinet, req)`: an `auth` request from a cabinet -> the claims of its
`auth_result`. A prepaid card is let in with a money limit of at most its balance
(AUTH_RESERVE_FEN), reserved at once and settled at the session's end; a monthly pass
until its day, with an "until full" limit; a blocked or unknown card is refused. The
offline list every cabinet keeps (`cards` op) holds the cards that are not blocked; a
card blocked here is removed from every cabinet's list at once.
"""

import json
import re
import secrets
import time

AUTH_RESERVE_FEN = 500  # the most one card session may cost before it is settled
CARD_RE = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")
CARDS_PER_CMD = 100  # ids of 8 digits per token stay within the cabinet's 2048 bytes
KINDS = ("prepaid", "pass")


class CardError(ValueError):
    pass


def norm(card):
    c = str(card or "").upper()
    if not CARD_RE.match(c):
        raise CardError("card %r: 2-20 hex digits, an even count" % str(card)[:40])
    return c


def put(cur, card, kind, balance_fen=0, pass_until=None, holder=None):
    card = norm(card)
    if kind not in KINDS:
        raise CardError("kind %r: one of %s" % (kind, ", ".join(KINDS)))
    n = cur.run("UPDATE cards SET kind = ?, balance_fen = ?, pass_until = ?, holder = ?, "
                "blocked = 0, updated = ? WHERE card = ?",
                (kind, int(balance_fen), pass_until, holder, time.time(), card))
    if n == 0:
        cur.run("INSERT INTO cards (card, holder, kind, balance_fen, pass_until, blocked, "
                "updated) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (card, holder, kind, int(balance_fen), pass_until, time.time()))
    return card


def block(cur, card):
    card = norm(card)
    return cur.run("UPDATE cards SET blocked = 1, updated = ? WHERE card = ?",
                   (time.time(), card))


def offline_list(cur):
    return [r["card"] for r in cur.all("SELECT card FROM cards WHERE blocked = 0 ORDER BY card")]


def blocked_list(cur):
    return [r["card"] for r in cur.all("SELECT card FROM cards WHERE blocked = 1 ORDER BY card")]


def batches(add=(), remove=()):
    """`cards` op arguments in batches that fit one token."""
    add, remove = list(add), list(remove)
    out = []
    while remove:
        out.append({"remove": remove[:CARDS_PER_CMD]})
        remove = remove[CARDS_PER_CMD:]
    while add:
        out.append({"add": add[:CARDS_PER_CMD]})
        add = add[CARDS_PER_CMD:]
    return out


def answer(cur, cabinet, req, now=None):
    """The auth_result arguments for one request (and the card order it opens)."""
    now = time.time() if now is None else now
    rid = req.get("rid")
    port = req.get("port")
    try:
        card = norm(req.get("card"))
    except CardError:
        return {"rid": rid, "ok": False}
    row = cur.one("SELECT kind, balance_fen, pass_until, blocked FROM cards WHERE card = ?",
                  (card,))
    if row is None or row["blocked"]:
        return {"rid": rid, "ok": False}
    oid = "card-%s" % secrets.token_hex(6)
    if row["kind"] == "pass":
        if not row["pass_until"] or row["pass_until"] < now:
            return {"rid": rid, "ok": False}
        limit, reserve = {"full": True}, 0
    else:
        reserve = min(row["balance_fen"], AUTH_RESERVE_FEN)
        if reserve <= 0:
            return {"rid": rid, "ok": False}
        n = cur.run("UPDATE cards SET balance_fen = balance_fen - ?, updated = ? WHERE card = ? "
                    "AND balance_fen >= ?", (reserve, now, card, reserve))
        if n != 1:
            return {"rid": rid, "ok": False}
        limit = {"fen": reserve}
    cur.run("INSERT INTO orders (id, cabinet, port, limit_json, tariff_json, prepay_fen, state, "
            "pay_id, pay_state, client, created, updated, sent_at) VALUES (?, ?, ?, ?, '{}', ?, "
            "'sent', ?, 'card', ?, ?, ?, ?)",
            (oid, cabinet, port if isinstance(port, int) else -1,
             json.dumps(limit), reserve, card, "card:" + card, now, now, now))
    return {"rid": rid, "ok": True, "limit": limit, "order": oid}


def settle(cur, card, refund_fen):
    cur.run("UPDATE cards SET balance_fen = balance_fen + ?, updated = ? WHERE card = ?",
            (refund_fen, time.time(), card))
