"""Signed commands: one HS256 JWS per command with the cabinet's own key (PROTOCOL.md).

Keys are read from the database when a command is signed and never leave the server:
no API or page returns them. `exp` is set against the cabinet's clock as the hub last
saw it (telemetry `t`), so a cabinet whose clock runs apart from ours still accepts it.
Every command is recorded (who, why, the reply) in `commands`, keyed by its jti.
"""

import json
import secrets
import time

import jwt

CMD_TTL_S = 300  # a command unanswered this long is void on the cabinet (exp)
STAFF_OPS = ("stop", "estop", "unlock")


class CommandError(ValueError):
    def __init__(self, code, text):
        ValueError.__init__(self, text)
        self.code = code


def new_jti(kind="c"):
    return "%s-%s" % (kind, secrets.token_hex(8))


class Commander:
    def __init__(self, db, publish, clock_of, ttl_s=CMD_TTL_S):
        """publish(topic, payload) -> None; clock_of(cabinet_root) -> cabinet's epoch now."""
        self.db, self.publish, self.clock_of, self.ttl_s = db, publish, clock_of, ttl_s

    def cabinet(self, cur, cabinet):
        row = cur.one("SELECT id, prefix, key_hex, ports, energy_fen_per_kwh, "
                      "service_fen_per_kwh, port_limit_w FROM cabinets WHERE id = ?",
                      (cabinet,))
        if row is None:
            raise CommandError("unknown_cabinet", "cabinet %r is not registered" % cabinet)
        return row

    def send(self, cur, cabinet, op, args, who, why=None, order=None, jti=None):
        """Sign and record one command inside transaction `cur`; returns (jti, topic,
        token). The caller publishes after the commit (`publish_after`)."""
        cab = self.cabinet(cur, cabinet)
        root = "%s/%s" % (cab["prefix"], cab["id"])
        jti = jti or new_jti(op[0])
        claims = {"op": op, "jti": jti, "exp": int(self.clock_of(root)) + self.ttl_s,
                  "iat": int(time.time())}
        claims.update(args)
        token = jwt.encode(claims, bytes.fromhex(cab["key_hex"]), algorithm="HS256")
        port = args.get("port") if isinstance(args.get("port"), int) else None
        cur.run("INSERT INTO commands (jti, cabinet, op, port, order_id, who, why, sent) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (jti, cabinet, op, port, order, who, why, time.time()))
        return jti, root + "/cmd", token

    def on_reply(self, cur, cabinet, rep):
        """A reply from the cabinet: recorded against its command; the order it started
        refused when not ok. Returns the command row or None (not ours, or a repeat)."""
        jti = rep.get("jti")
        if not isinstance(jti, str):
            return None
        ok = rep.get("ok") is True
        err = rep.get("error") if isinstance(rep.get("error"), str) else None
        n = cur.run("UPDATE commands SET ok = ?, error = ?, replied = ? WHERE jti = ? AND "
                    "cabinet = ? AND replied IS NULL", (1 if ok else 0, err, time.time(), jti,
                                                        cabinet))
        if n != 1:
            return None
        row = cur.one("SELECT jti, op, order_id FROM commands WHERE jti = ?", (jti,))
        if row["order_id"] and not ok:
            cur.run("UPDATE orders SET state = 'refused', error = ?, updated = ? "
                    "WHERE id = ? AND state = 'sent'", (err or "refused", time.time(),
                                                         row["order_id"]))
        return row


def history(cur, limit=50):
    return cur.all("SELECT jti, cabinet, op, port, order_id, who, why, sent, ok, error, "
                   "replied FROM commands WHERE op IN ('stop', 'estop', 'unlock') "
                   "ORDER BY sent DESC LIMIT ?", (limit,))


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))
