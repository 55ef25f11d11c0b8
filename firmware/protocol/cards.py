# Cards: the offline card list (the `cards` command) and card authorisation requests to
# the server (the resident flow, firmware/panel/resident.py).
#
#   rid = cards.request(uplink, card, port, dumps)  # None when the link is down: offline
#   cards.auth_result(rid, ok, limit, order)  # an `auth_result` command -> deliver(...)
#   cards.ok(card)                            # the offline list, for a timeout or no link

from firmware.core import codes
from firmware.protocol.settings import read_json

MAX_CARDS = 500  # offline list bound: ~20 KB of RAM on the ESP32, ~5 KB on flash
AUTH_PENDING = 8  # authorisation requests remembered for an answer ...
AUTH_KEEP_MS = 60000  # ... this long
FILE = "cards.json"  # in the state directory


class Cards:
    """The offline card list (upper-case hex UIDs, kept in state_dir/cards.json) and the
    authorisation requests waiting for the server's `auth_result` (at most AUTH_PENDING,
    each for AUTH_KEEP_MS). One object: each object costs RAM on the ESP32."""

    def __init__(self, state_dir, save, cabinet_id, boot_no, clock, deliver):
        self.save = save  # save(name, obj): atomic write in the state dir, alarm on failure
        d = read_json(state_dir + "/" + FILE)
        ids = d.get("cards") if isinstance(d, dict) else None
        self.ids = set(c for c in ids if isinstance(c, str)) if isinstance(ids, list) else set()
        self.rid_prefix = "%s-%d-r" % (cabinet_id, boot_no)
        self.clock = clock
        self.deliver = deliver  # deliver(rid, ok, limit, order): to the resident flow
        self.pending = []  # [[rid, card, port, ticks_ms]] waiting for auth_result
        self.results = []  # [(rid, ok, limit, order)], the latest AUTH_PENDING
        self._rid = 0

    # --- the offline list ---
    def __len__(self):
        return len(self.ids)

    def __iter__(self):
        return iter(self.ids)

    def ok(self, card):
        return isinstance(card, str) and card.upper() in self.ids

    def update(self, add, remove):
        """Remove, then add (checked upper-case ids): None, or bad_args past MAX_CARDS."""
        new = set(self.ids)
        for c in remove:
            new.discard(c)
        for c in add:
            new.add(c)
        if len(new) > MAX_CARDS:
            return codes.E_BAD_ARGS
        self.save(FILE, {"v": 1, "cards": sorted(new)})
        self.ids = new
        return None

    # --- authorisation requests ---
    def request(self, up, card, port, dumps):
        """Send a request on the uplink's urgent lane: its rid, or None when it cannot be
        sent now (no link): the caller decides from the offline list at once."""
        if up is None or not up.connected:
            return None
        self._rid += 1
        rid = self.rid_prefix + str(self._rid)
        msg = {"rid": rid, "card": card, "port": port, "t": self.clock.time()}
        if not up.urgent("auth", dumps(msg), False):
            return None
        self.pending.append([rid, card, port, self.clock.ticks_ms()])
        del self.pending[:-AUTH_PENDING]
        return rid

    def auth_result(self, rid, ok, limit, order):
        """An `auth_result`: None, or bad_args for a rid never asked or forgotten."""
        for i in range(len(self.pending)):
            if self.pending[i][0] == rid:
                break
        else:
            return codes.E_BAD_ARGS
        del self.pending[i]
        self.results.append((rid, ok, limit, order))
        del self.results[:-AUTH_PENDING]
        self.deliver(rid, ok, limit, order)
        return None

    def expire(self, now):
        """Once a second: forget the oldest request after AUTH_KEEP_MS."""
        if self.pending and self.clock.ticks_diff(now, self.pending[0][3]) >= AUTH_KEEP_MS:
            self.pending.pop(0)
