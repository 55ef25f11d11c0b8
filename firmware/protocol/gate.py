# The token gate: every command passes here before any argument is read (PROTOCOL.md
# "Commands", checks 2-4). A JWS compact HS256 token with the cabinet's cmd_key, then
# exp and jti against the replay guard (firmware/protocol/replay.py, persisted in the state
# directory and written before the command acts; exp is checked against the last known
# wall time while the clock is unset).
#
#   gate = Gate(cfg, state_dir, clock, clock_set)
#   claims, jti, err = gate.open(token)   # err None: authentic, fresh, first seen

import binascii

from firmware.protocol import jws
from firmware.protocol.replay import ReplayGuard


class Gate:
    def __init__(self, cfg, state_dir, clock, clock_set):
        self.key = binascii.unhexlify(cfg["cmd_key"])
        self.max_bytes = cfg["max_msg_bytes"]
        self.clock = clock
        self.clock_set = clock_set  # clock_set() -> True once the wall clock is known
        self.replay = ReplayGuard(state_dir + "/replay.json")

    def open(self, token):
        """(claims, jti, None) for a command to act on, else (None, jti or None, code)."""
        claims, err = jws.verify(token, self.key, self.max_bytes)
        if err is not None:
            return None, None, err  # nothing in the token can be trusted: no jti
        jti = claims.get("jti")
        err = self.replay.check_and_add(jti, claims.get("exp"), self.clock.time(),
                                        self.clock_set())
        if err is not None:
            return None, jti, err
        return claims, jti, None
