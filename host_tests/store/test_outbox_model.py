"""The outbox against a plain list model, under random puts, acks, restarts and torn
appends (hypothesis state machine, CPython). The model: records in put order; a full
outbox drops the oldest alarms first, then the new alarm; session records never drop."""

import json
import shutil
import tempfile

from conftest import FULL
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.store import outbox as outbox_mod
from firmware.store.outbox import Outbox

MAX = 8192  # max_record 120: fills within a run
STATS = {"runs": 0, "full": 0}
KINDS = ("session_start", "session_end", "alarm")


def _size(n, rid, kind, payload):
    js = json.dumps(payload, separators=(",", ":")).encode()
    return len(outbox_mod._line(b"P %d %s %s %s" % (n, rid.encode(), kind.encode(), js)))


class OutboxModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.d = tempfile.mkdtemp()
        self.ob = Outbox(self.d, max_bytes=MAX)
        self.model = []  # [id, kind, size, payload]
        self.next_n = 1
        self.dropped = 0

    def teardown(self):
        shutil.rmtree(self.d)
        STATS["runs"] += 1
        STATS["full"] += self.dropped > 0

    @rule(kind=st.sampled_from(KINDS), pad=st.integers(0, 50))
    def put(self, kind, pad):
        payload = {"x": "p" * pad}
        rid = str(self.next_n)
        size = _size(self.next_n, rid, kind, dict(payload, id=rid))
        used = sum(m[2] for m in self.model)
        while used + size > MAX:
            alarms = [m for m in self.model if m[1] == "alarm"]
            if not alarms:
                break
            self.model.remove(alarms[0])
            self.dropped += 1
            used -= alarms[0][2]
        if used + size > MAX:
            if kind == "alarm":
                assert self.ob.put(kind, payload) is None
                self.dropped += 1
            else:
                try:
                    self.ob.put(kind, payload)
                    raise AssertionError("a session record past the hard cap")
                except OSError:
                    pass
            return
        assert self.ob.put(kind, payload) == rid
        self.model.append([rid, kind, size, payload])
        self.next_n += 1

    @rule(kinds=st.lists(st.sampled_from(KINDS), min_size=5, max_size=40))
    def put_many(self, kinds):
        for i, kind in enumerate(kinds):
            self.put(kind, i * 7 % 50)

    @rule(n=st.integers(1, 5))
    def ack(self, n):
        for _ in range(n):
            if not self.model:
                assert self.ob.peek() is None and not self.ob.ack("1")
                return
            assert self.ob.ack(self.model[0][0])
            self.model.pop(0)

    @rule()
    def ack_wrong(self):
        if len(self.model) > 1:
            assert not self.ob.ack(self.model[1][0])
        assert not self.ob.ack("nope")

    @rule()
    def restart(self):
        dropped = self.ob.dropped
        self.ob = Outbox(self.d, max_bytes=MAX)
        self.ob.dropped = dropped
        assert self.ob.problems == []

    @rule(cut=st.integers(1, 60), kind=st.sampled_from(("put", "ack")))
    def torn_append_then_restart(self, cut, kind):
        body = b"P 999 999 alarm {}" if kind == "put" else b"A %d" % self.next_n
        line = outbox_mod._line(body)
        with open(self.d + "/outbox.log", "ab") as f:
            f.write(line[:min(cut, len(line) - 1)])
        dropped = self.ob.dropped
        self.ob = Outbox(self.d, max_bytes=MAX)
        self.ob.dropped = dropped
        assert len(self.ob.problems) == 1 and "torn tail" in self.ob.problems[0]

    @invariant()
    def matches_the_model(self):
        ob = self.ob
        assert ob.pending == len(self.model)
        assert ob.bytes_used == sum(m[2] for m in self.model)
        assert ob.dropped == self.dropped
        assert ob.nearly_full == (ob.bytes_used > MAX * 3 // 4)
        h = ob.peek()
        if self.model:
            rid, kind, _, payload = self.model[0]
            assert h[0] == rid and h[1] == kind
            assert json.loads(h[2]) == dict(payload, id=rid)
        else:
            assert h is None


OutboxModel.TestCase.settings = settings(max_examples=200 if FULL else 40,
                                         stateful_step_count=100, deadline=None)


def test_outbox_matches_the_model_through_full_and_torn_states():
    OutboxModel.TestCase("runTest").runTest()
    assert STATS["full"] * 10 >= STATS["runs"], STATS  # the drop policy was exercised
