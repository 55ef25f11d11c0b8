# What a session is and what it has used, and the parsing of a session's limit.
#
# Pure data on integers; the end-of-charge judgement is in judge.py, protection (trips) in
# protection.py, the relay and the port's states in port.py.

from firmware.core import codes

_EPOCH_2024 = 1704067200  # 2024-01-01 00:00 UTC in Unix seconds (Clock.since2024_s)


class Session:
    """What a session is and what it has used. Plain ints and strings (journal-friendly)."""

    def __init__(self, sid, port, auth, limit_kind, limit_value, order, start_epoch, bill):
        self.sid = sid
        self.port = port
        self.auth = auth
        self.limit_kind = limit_kind  # "minutes", "wh", "fen" or "full"
        self.limit_value = limit_value
        self.order = order
        self.start_epoch = start_epoch
        self.not_before_s = 0  # off-peak start, seconds since 2024 (small int); 0 = at once
        self.charge_ms = 0  # relay-closed time, excluding deferral and outages
        self.mwh = 0  # delivered energy, milli-Wh
        self.peak_mw = 0
        self.bill = bill
        self.seq = 0  # start order in this cabinet (orderly charging pauses the newest)
        self.tariff = None  # None: the cabinet's prices; else this session's (start command)

    @property
    def not_before(self):
        """The off-peak start in Unix seconds (0 = at once): the journal's field."""
        return self.not_before_s + _EPOCH_2024 if self.not_before_s else 0

    @not_before.setter
    def not_before(self, epoch):
        self.not_before_s = epoch - _EPOCH_2024 if epoch else 0

    def may_start(self, now_s):
        """May the session draw at now_s (Clock.since2024_s)? Small ints only."""
        nb = self.not_before_s
        return nb == 0 or nb <= now_s

    def limit_dict(self):
        if self.limit_kind == "full":
            return {"full": True}
        return {self.limit_kind: self.limit_value}

    def limit_reached(self):
        k = self.limit_kind
        if k == "minutes":
            # In seconds: minutes * 60000 passes 2**30 (a long int on the ESP32) for limits
            # above 17 895 minutes. The reading that crosses the limit comes up to a meter
            # sweep after it: the session is charged the time it bought, no more.
            limit_s = self.limit_value * 60
            if self.charge_ms // 1000 < limit_s:
                return None
            self.charge_ms = limit_s * 1000
            return codes.TIME_LIMIT
        if k == "wh":
            return codes.ENERGY_LIMIT if self.mwh >= self.limit_value * 1000 else None
        if k == "fen":
            return codes.MONEY_LIMIT if self.bill.fen >= self.limit_value else None
        return None


def parse_limit(limit):
    """{"minutes": n} | {"wh": n} | {"fen": n} | {"full": true} -> (kind, value) or (None, None)."""
    if not isinstance(limit, dict) or len(limit) != 1:
        return None, None
    for k in limit:
        v = limit[k]
        if k == "full":
            return ("full", 0) if v is True else (None, None)
        if k in ("minutes", "wh", "fen"):
            if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1000000:
                return k, v
    return None, None
