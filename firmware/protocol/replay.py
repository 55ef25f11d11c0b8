# Command replay protection across reboots: every accepted jti is remembered until its exp.
#
# The bound. At most `cap` jtis are kept. The caller rejects (bad_args) a token whose exp
# is more than `max_ttl_s` ahead of a set clock, so every entry leaves the set at most
# max_ttl_s after it was accepted and the set drains by itself; the cap is only hit by a
# burst of more than `cap` live tokens. Even then the bound stays safe: the entry with the
# earliest exp is evicted and its exp becomes `floor_exp`, and any unknown token whose exp
# is at or below the floor is refused as replayed (it may be the evicted one). A legitimate
# token is refused only in such a burst, and only when it expires sooner than one already
# forgotten; servers that give every token the same lifetime never see that.
#
# The wall clock may not be set yet after a reboot (no RTC battery, no NTP yet). Policy:
# `time_floor`, the last wall time seen with the clock set, is persisted. With the clock
# unset, "now" is taken as time_floor (time does not run backwards across a reboot): a
# token that had expired by then is refused as expired, any other is accepted and
# remembered, and nothing is pruned. The first call with the clock set prunes what has
# expired since. So a captured old command cannot be replayed while the clock is unknown.
#
# Persistence: a small JSON file replaced atomically (temp file + rename; littlefs makes
# the rename power-safe), written on every accepted token, before the command acts.

import json
import os

REPLAYED = "replayed"
EXPIRED = "expired"
BAD_ARGS = "bad_args"
DEFAULT_CAP = 256
DEFAULT_MAX_TTL_S = 86400  # a token may live at most a day
MAX_JTI_LEN = 64  # characters; keeps the file under ~20 KB at the cap


def _is_num(v):
    """An int, or a float of a sane size: JSON's 1e999 parses as inf and int(inf) raises;
    NaN fails every comparison, so it fails this one too."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and -1e15 < v < 1e15


class ReplayGuard:
    def __init__(self, path, cap=DEFAULT_CAP, max_ttl_s=DEFAULT_MAX_TTL_S):
        self.path = path
        self.cap = cap
        self.max_ttl_s = max_ttl_s
        self.seen = {}  # jti -> exp (epoch s)
        self.floor_exp = 0  # unknown tokens with exp <= this count as replayed
        self.time_floor = 0  # last wall time seen with the clock set (epoch s)
        self.write_errors = 0
        self._load()

    def too_far(self, exp, now):
        """True when exp is more than max_ttl_s ahead of a set clock (caller: bad_args)."""
        return exp - now > self.max_ttl_s

    def check_and_add(self, jti, exp, now, clock_set=True):
        """Accept a verified token's (jti, exp) once. Returns None (accepted and remembered)
        or REPLAYED, EXPIRED (exp <= now, or <= time_floor while the clock is unset),
        BAD_ARGS (jti not a short string, exp not a number, exp too far ahead)."""
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LEN or not _is_num(exp):
            return BAD_ARGS
        exp = int(exp)
        if clock_set:
            self.time_floor = int(now)
            self._prune(now)
            if self.too_far(exp, now):
                return BAD_ARGS
        eff_now = now if clock_set else self.time_floor
        if exp <= eff_now:
            return EXPIRED
        if jti in self.seen or exp <= self.floor_exp:
            return REPLAYED
        while len(self.seen) >= self.cap:
            self._evict_earliest()
        self.seen[jti] = exp
        self._save()
        return None

    def _prune(self, now):
        for jti in [j for j, e in self.seen.items() if e <= now]:
            del self.seen[jti]
        if self.floor_exp <= now:
            self.floor_exp = 0  # anything at or below it is expired anyway

    def _evict_earliest(self):
        jti = None
        for j, e in self.seen.items():
            if jti is None or e < self.seen[jti]:
                jti = j
        self.floor_exp = max(self.floor_exp, self.seen[jti])
        del self.seen[jti]

    # --- persistence ---
    def _load(self):
        try:
            with open(self.path) as f:
                d = json.load(f)
            self.time_floor = int(d["t"])
            self.floor_exp = int(d["f"])
            for jti, exp in d["j"]:
                self.seen[jti] = int(exp)
        except (OSError, ValueError, KeyError, TypeError):
            # Missing (first boot) or unreadable: start empty. The atomic replace makes an
            # unreadable file a storage fault, not a torn write.
            self.seen = {}
        try:
            os.remove(self.path + ".tmp")  # a write cut short by a power loss
        except OSError:
            pass

    def _save(self):
        d = {"t": self.time_floor, "f": self.floor_exp,
             "j": [[j, e] for j, e in self.seen.items()]}
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(d, f)
            os.rename(tmp, self.path)
        except OSError:
            # Flash full or failing: keep protecting from RAM until the next reboot.
            self.write_errors += 1
