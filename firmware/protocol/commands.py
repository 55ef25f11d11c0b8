# Command dispatch: verified claims in, one reply out (PROTOCOL.md "Commands").
#
# firmware/protocol/gate.py checks the token in front of this (JWS HS256 signature, exp,
# jti), so the claims here are authentic and fresh. One TABLE row per op: the argument
# parser parse(app, claims) -> args (raises BadArgs: a rejected command changes nothing)
# and the handler handler(ctx, args) -> None (done), an error code, or a dict of extra
# reply fields. ctx is the coordinator (firmware/protocol/cloud.Cloud, or any object with
# the same parts): ctx.app, ctx.cards, ctx.report, ctx.set_time, ctx.configure(partial),
# ctx.request_reboot(). A new op is one parser, one handler and one TABLE row. Claims a
# parser does not name are ignored (standard JWT claims such as iat, or fields added to
# the protocol later).
#
#   handle(ctx, claims) -> {"jti": "...", "ok": true}
#                        | {"jti": "..." or null, "ok": false, "error": CODE}

from firmware.core import codes
from firmware.core.billing import TARIFF_KEYS
from firmware.core.session import parse_limit
from firmware.system import config as config_mod

MAX_ID = 64  # characters of an order or request id (session_end stays within one record)
MAX_CARD_LIST = 500  # card ids in one add or remove list
# Claims that belong to the token, never to a config object given at the top level.
TOKEN_CLAIMS = ("op", "jti", "exp", "iat", "nbf", "iss", "aud", "sub")
MIN_EPOCH = 1600000000  # 2020-09: a `time` command before this is a mistake
MAX_EPOCH = 4102444800  # 2100-01-01
_HEX = "0123456789abcdefABCDEF"


class BadArgs(Exception):
    pass


def reply(jti, err=None, extra=None):
    """The reply dict; jti is echoed only when it is one (a string of 1-64 characters)."""
    ok_jti = isinstance(jti, str) and 0 < len(jti) <= MAX_ID
    r = {"jti": jti if ok_jti else None, "ok": err is None}
    if err is not None:
        r["error"] = err
    elif extra:
        r.update(extra)
    return r


def handle(ctx, claims):
    """Apply one command (authentic claims) through TABLE. Returns the reply dict."""
    jti = claims.get("jti")
    row = TABLE.get(claims.get("op")) if isinstance(claims.get("op"), str) else None
    if row is None:
        return reply(jti, codes.E_UNKNOWN_OP)
    try:
        args = row[0](ctx.app, claims)
    except BadArgs:
        return reply(jti, codes.E_BAD_ARGS)
    res = row[1](ctx, args)
    if isinstance(res, dict):
        return reply(jti, None, res)
    return reply(jti, res)


# --- argument checks: each returns the clean value or raises BadArgs ---
def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def port(app, claims):
    p = claims.get("port")
    if _int(p) and 0 <= p < app.n:
        return p
    raise BadArgs()


def limit(v):
    if parse_limit(v)[0] is None:
        raise BadArgs()
    return v


def opt_id(claims, key):
    v = claims.get(key)
    if v is None:
        return None
    if isinstance(v, str) and 0 < len(v) <= MAX_ID and not any(ord(c) < 32 for c in v):
        return v
    raise BadArgs()


def opt_bool(claims, key):
    v = claims.get(key, False)
    if isinstance(v, bool):
        return v
    raise BadArgs()


def tariff(v):
    """None, or a dict of tariff keys with valid values (the config schema's rules)."""
    if v is None:
        return None
    if not isinstance(v, dict) or not v:
        raise BadArgs()
    for k in v:
        if k not in TARIFF_KEYS:
            raise BadArgs()
    if config_mod.validate(v)[1]:
        raise BadArgs()
    return v


def card_id(v):
    """A card UID as hex (2-20 digits, even count), upper case."""
    if (not isinstance(v, str) or not 2 <= len(v) <= 20 or len(v) % 2
            or any(c not in _HEX for c in v)):
        raise BadArgs()
    return v.upper()


def card_list(v):
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_CARD_LIST:
        raise BadArgs()
    return [card_id(c) for c in v]


# --- argument parsers: parse(app, claims) -> the handler's args ---
def parse_start(app, c):
    return (port(app, c), limit(c.get("limit")), opt_id(c, "order"),
            opt_bool(c, "offpeak"), tariff(c.get("tariff")))


def parse_port(app, c):
    return port(app, c)


def parse_stop(app, c):
    p = port(app, c)
    if app.session(p) is None:
        raise BadArgs()  # no session to stop
    return p


def parse_auth_result(app, c):
    rid = opt_id(c, "rid")
    ok = c.get("ok")
    if rid is None or not isinstance(ok, bool):
        raise BadArgs()
    lim = c.get("limit")
    return rid, ok, (None if lim is None else limit(lim)), opt_id(c, "order")


def parse_cards(app, c):
    if c.get("add") is None and c.get("remove") is None:
        raise BadArgs()
    return card_list(c.get("add")), card_list(c.get("remove"))


def parse_config(app, c):
    if "config" in c:
        partial = c["config"]
    else:  # the config keys given at the top level of the claims
        partial = {}
        for k in c:
            if k not in TOKEN_CLAIMS:
                partial[k] = c[k]
    if not isinstance(partial, dict) or not partial:
        raise BadArgs()
    return partial


def parse_time(app, c):
    now = c.get("now")
    if (isinstance(now, bool) or not isinstance(now, (int, float))
            or not MIN_EPOCH <= now <= MAX_EPOCH):
        raise BadArgs()
    return int(now)


def parse_none(app, c):
    return None


# --- handlers: handler(ctx, args) -> None, an error code, or extra reply fields ---
def do_start(ctx, a):
    p, lim, order, offpeak, prices = a
    return ctx.app.start(p, "remote", lim, order, offpeak, prices)


def do_stop(ctx, p):
    return ctx.app.stop(p, codes.REMOTE_STOP)


def do_estop(ctx, a):
    ctx.app.estop()


def do_unlock(ctx, p):
    return ctx.app.unlock(p)


def do_auth_result(ctx, a):
    return ctx.cards.auth_result(a[0], a[1], a[2], a[3])


def do_cards(ctx, a):
    err = ctx.cards.update(a[0], a[1])
    if err is None:
        ctx.report.publish_status()  # the status carries the list's size
    return err


def do_config(ctx, partial):
    return ctx.configure(partial)


def do_time(ctx, now):
    if ctx.set_time is None:
        return codes.E_UNKNOWN_OP  # no wall clock setter on this build
    ctx.set_time(now)
    return None


def do_status(ctx, a):
    ctx.report.publish_status()
    ctx.report.publish_telemetry(True)


def do_reboot(ctx, a):
    ctx.request_reboot()


# op -> (argument parser, handler)
TABLE = {
    "start": (parse_start, do_start),
    "stop": (parse_stop, do_stop),
    "estop": (parse_none, do_estop),
    "unlock": (parse_port, do_unlock),
    "auth_result": (parse_auth_result, do_auth_result),
    "cards": (parse_cards, do_cards),
    "config": (parse_config, do_config),
    "time": (parse_time, do_time),
    "status": (parse_none, do_status),
    "reboot": (parse_none, do_reboot),
}
OPS = tuple(TABLE)
