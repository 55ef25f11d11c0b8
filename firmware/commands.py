# Command dispatch: verified claims in, one reply out (PROTOCOL.md "Commands").
#
# The token check (JWS HS256, exp, jti) sits in front of this in the uplink; here the
# claims are already authentic. Arguments are validated before anything changes, so a
# rejected command changes nothing.

from firmware import codes

OPS = ("start", "stop", "estop", "unlock", "auth_result", "cards", "config", "time",
       "status", "reboot")


def _port(app, claims):
    p = claims.get("port")
    if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < app.n:
        return p
    return None


def handle(app, claims):
    """Apply one command. Returns the reply dict."""
    jti = claims.get("jti")
    op = claims.get("op")
    if op not in OPS:
        return _err(jti, "unknown_op")
    err = None
    if op == "start":
        p = _port(app, claims)
        order = claims.get("order")
        if p is None or (order is not None and not isinstance(order, str)):
            err = codes.E_BAD_ARGS
        else:
            err = app.start(p, "remote", claims.get("limit"), order,
                            claims.get("offpeak") is True)
    elif op == "stop":
        p = _port(app, claims)
        err = codes.E_BAD_ARGS if p is None else app.stop(p, codes.REMOTE_STOP)
    elif op == "estop":
        app.estop()
    elif op == "unlock":
        p = _port(app, claims)
        err = codes.E_BAD_ARGS if p is None else app.unlock(p)
    elif op == "status":
        app.emit({"ev": "status_request"})
    else:
        handler = getattr(app, "cmd_" + op, None)
        if handler is None:
            return _err(jti, "unknown_op")
        err = handler(claims)
    if err is not None:
        return _err(jti, err)
    return {"jti": jti, "ok": True}


def _err(jti, code):
    return {"jti": jti if isinstance(jti, str) else None, "ok": False, "error": code}
