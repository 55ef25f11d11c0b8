# Command dispatch: verified claims in, one reply out (PROTOCOL.md "Commands").
#
# firmware/protocol/cloud.py checks the token in front of this (JWS HS256 signature, exp, jti), so
# the claims here are authentic and fresh. Every argument of the op is validated before
# anything is done, so a rejected command changes nothing. Port ops go to the app; the
# others to `ext` (firmware/cloud.Cloud): ext.cmd_<op>(...) returns None (done), an error
# code, or a dict of extra reply fields. Claims this file does not name are ignored
# (standard JWT claims such as iat, or fields added to the protocol later).
#
#   handle(app, claims, ext) -> {"jti": "...", "ok": true}
#                             | {"jti": "..." or null, "ok": false, "error": CODE}

from firmware.core import codes
from firmware.core.session import parse_limit
from firmware.system import config as config_mod

OPS = ("start", "stop", "estop", "unlock", "auth_result", "cards", "config", "time",
       "status", "reboot")
MAX_ID = 64  # characters of an order or request id (session_end stays within one record)
MAX_CARD_LIST = 500  # card ids in one add or remove list
TARIFF_KEYS = ("energy_fen_per_kwh", "service_fen_per_kwh", "tou_fen_per_kwh", "tiers")
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


def handle(app, claims, ext=None):
    """Apply one command (authentic claims). Returns the reply dict."""
    jti = claims.get("jti")
    op = claims.get("op")
    if not isinstance(op, str) or op not in OPS:
        return reply(jti, codes.E_UNKNOWN_OP)
    try:
        if op in _APP_OPS:
            res = _APP_OPS[op](app, claims)
        else:
            fn = getattr(ext, "cmd_" + op, None)
            if fn is None:
                return reply(jti, codes.E_UNKNOWN_OP)  # not on this build (no ext)
            res = fn(*_EXT_ARGS[op](app, claims))
    except BadArgs:
        return reply(jti, codes.E_BAD_ARGS)
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


# --- port ops (the app) ---
def _start(app, c):
    p = port(app, c)
    lim = limit(c.get("limit"))
    order = opt_id(c, "order")
    t = tariff(c.get("tariff"))
    off = opt_bool(c, "offpeak")
    return app.start(p, "remote", lim, order, off, t)


def _stop(app, c):
    p = port(app, c)
    if app.session(p) is None:
        raise BadArgs()  # no session to stop
    return app.stop(p, codes.REMOTE_STOP)


def _estop(app, c):
    app.estop()


def _unlock(app, c):
    return app.unlock(port(app, c))


_APP_OPS = {"start": _start, "stop": _stop, "estop": _estop, "unlock": _unlock}


# --- the others (ext): the argument tuple for ext.cmd_<op> ---
def _auth_result(app, c):
    rid = opt_id(c, "rid")
    ok = c.get("ok")
    if rid is None or not isinstance(ok, bool):
        raise BadArgs()
    lim = c.get("limit")
    return rid, ok, (None if lim is None else limit(lim)), opt_id(c, "order")


def _cards(app, c):
    if c.get("add") is None and c.get("remove") is None:
        raise BadArgs()
    return card_list(c.get("add")), card_list(c.get("remove"))


def _config(app, c):
    if "config" in c:
        partial = c["config"]
    else:  # the config keys given at the top level of the claims
        partial = {}
        for k in c:
            if k not in TOKEN_CLAIMS:
                partial[k] = c[k]
    if not isinstance(partial, dict) or not partial:
        raise BadArgs()
    return (partial,)


def _time(app, c):
    now = c.get("now")
    if (isinstance(now, bool) or not isinstance(now, (int, float))
            or not MIN_EPOCH <= now <= MAX_EPOCH):
        raise BadArgs()
    return (int(now),)


def _none(app, c):
    return ()


_EXT_ARGS = {"auth_result": _auth_result, "cards": _cards, "config": _config, "time": _time,
             "status": _none, "reboot": _none}
