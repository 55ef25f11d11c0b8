"""Power cuts at every flash write (firmware/store/persist.py, journal.py, outbox.py).

The firmware core runs in-process (CPython) on the virtual board with its journal and
outbox in a temporary directory. A cut is raised just before the Nth flash write of a
short busy scenario (every journal save and outbox append or compaction counts, so the
moments between a session record's journal save and its outbox put are among them);
the controller then boots again from the same directory, as after a power cut, and the
scenario runs to its end. Every N from 1 to the number of writes of an uncut run is
tried, in every run: the same dangerous moments each time, no wall clock.

Across all cuts: every session started has exactly one end record, no record id carries
two different contents, no session goes under two ids, and each record is delivered.
Torn writes inside a file are the dual store/outbox tests' subject and the SIGKILL
campaigns'; here a write either happened or did not.
"""

import json

import pytest
import scenario as scenario_mod
import scenkit
from jsonlines import JsonLines
from run import Sim

from firmware.store import store
from firmware.store.outbox import Outbox


class Cut(BaseException):
    """The power dies: nothing in the firmware may catch it (BaseException)."""


class _Null:
    def write(self, s):
        pass


class Writes:
    """Counts flash writes; raises Cut just before write number `cut_at` (1-based)."""

    def __init__(self, monkeypatch, cut_at=None):
        self.n = 0
        self.cut_at = cut_at
        self.kinds = []
        real_write, real_append, real_compact = store.write, Outbox._append, Outbox._compact

        def count(kind):
            self.n += 1
            if self.n == self.cut_at:
                self.cut_at = None  # one cut per run
                raise Cut(kind)
            self.kinds.append(kind)

        def write(d, name, obj):
            count("store:" + name)
            return real_write(d, name, obj)

        def append(ob, line):
            count("outbox:" + line[:40].decode(errors="replace").split(" ")[1])
            return real_append(ob, line)

        def compact(ob):
            count("outbox:compact")
            return real_compact(ob)

        monkeypatch.setattr(store, "write", write)
        monkeypatch.setattr(Outbox, "_append", append)
        monkeypatch.setattr(Outbox, "_compact", compact)


def busy(duration_s=400):
    ev = []
    for p, (model, limit) in enumerate([("lead_acid_48v_20ah", {"minutes": 2}),
                                        ("lithium_48v_4a", {"wh": 3}),
                                        ("lead_acid_48v_20ah", {"full": True})]):
        ev.append({"t": 1 + p, "port": p, "plug": {"model": model, "soc": 0.3}})
        ev.append({"t": 3 + p, "cmd": {"op": "start", "port": p, "limit": limit}})
    ev.append({"t": 200, "port": 2, "fault": "short"})  # a trip: alarm + end + lock
    ev.append({"t": 230, "cmd": {"op": "start", "port": 0, "limit": {"minutes": 1}}})
    return scenario_mod.load(scenkit.scenario(ev, 3, duration_s, {"checkpoint_s": 30}))


class Records(JsonLines):
    """The log's delivered records (no broker: the simulator acks them into the log)."""

    def records(self):
        return [e["payload"] for e in self.events if e["ev"] == "record"]


def run_with_cut(sc, state_dir, monkeypatch, cut_at):
    """Run sc with a power cut just before flash write cut_at; (records, writes, cut?)."""
    w = Writes(monkeypatch, cut_at)
    out = Records()
    sim = Sim(sc, out, state_dir=state_dir, panel=False, boot=False)
    cut = False
    try:
        sim.app = sim.boot()
        sim.run()
    except Cut:
        cut = True
        sim.board.power_off()
        sim.board.power_on()
        sim.log({"ev": "power", "on": True})
        sim.app = sim.boot()  # the journal and the outbox as the cut left them
        sim.run()
    sim.deliver()
    return out.records(), w, cut


def check(records, why):
    by_id = {}
    for r in records:
        by_id.setdefault(r["id"], set()).add(json.dumps(r, sort_keys=True))
    twice = {i: c for i, c in by_id.items() if len(c) > 1}
    assert not twice, "%s: one id, two contents: %s" % (why, twice)
    starts = {r["sid"] for r in records if r.get("ev") == "session_start"}
    ends = [r["sid"] for r in records if r.get("ev") == "session_end"]
    assert set(ends) == starts, "%s: started %s, ended %s" % (why, sorted(starts), ends)
    for kind in ("session_start", "session_end"):
        ids = {r["id"] for r in records if r.get("ev") == kind}
        sids = {r["sid"] for r in records if r.get("ev") == kind}
        assert len(ids) == len(sids), "%s: a session under two ids (%s)" % (why, kind)
    return starts


def test_uncut_run_is_the_reference(tmp_path, monkeypatch):
    records, w, cut = run_with_cut(busy(), str(tmp_path), monkeypatch, None)
    starts = check(records, "uncut")
    assert not cut and len(starts) == 4, records
    reasons = sorted(r["reason"] for r in records if r.get("ev") == "session_end")
    assert reasons == ["energy_limit", "overcurrent", "time_limit", "time_limit"], reasons
    assert w.n >= 30, w.kinds


def test_a_cut_before_every_flash_write_loses_and_doubles_nothing(tmp_path, monkeypatch):
    sc = busy()
    _, ref, _ = run_with_cut(sc, str(tmp_path / "ref"), monkeypatch, None)
    total = ref.n
    monkeypatch.undo()
    lost_sessions = 0
    for n in range(1, total + 1):
        records, _, cut = run_with_cut(sc, str(tmp_path / ("c%d" % n)), monkeypatch, n)
        monkeypatch.undo()
        assert cut, n
        starts = check(records, "cut before write %d (%s)" % (n, ref.kinds[n - 1]))
        lost_sessions += 4 - len(starts)  # a start command whose first write was cut
    print("\npersist: %d cut points (every flash write of the run), %d start commands "
          "cut before their session existed" % (total, lost_sessions))


def test_pending_record_cut_between_journal_save_and_outbox_put_is_queued_again(
        tmp_path, monkeypatch):
    # The session_end is durable as "pending" in the port's journal record; the cut comes
    # before its outbox put. The next boot must queue it under the same id.
    sc = busy()
    _, ref, _ = run_with_cut(sc, str(tmp_path / "ref"), monkeypatch, None)
    monkeypatch.undo()
    puts = [i for i, k in enumerate(ref.kinds) if k == "outbox:P"]
    ends_at = [i for i in puts if ref.kinds[i - 1].startswith("store:port")]
    assert ends_at, ref.kinds
    for i in ends_at:
        records, _, cut = run_with_cut(sc, str(tmp_path / ("c%d" % i)), monkeypatch, i + 1)
        monkeypatch.undo()
        assert cut
        check(records, "cut before the outbox put, write %d" % (i + 1))
    # ... and one by hand, to say what is checked: the record comes out once, intact.
    state = str(tmp_path / "hand")
    first_end = [i for i in ends_at if i > 10][0]
    records, _, _ = run_with_cut(sc, state, monkeypatch, first_end + 1)
    ends = [r for r in records if r.get("ev") == "session_end"]
    assert len({r["id"] for r in ends}) == len(ends) == 4, ends


@pytest.mark.parametrize("kind", ["session_start", "session_end"])
def test_restore_queues_a_journaled_pending_record_again(tmp_path, kind):
    # The journal says a record was pending; the outbox never got it.
    from vclock import CLOCK

    from firmware.store.journal import Journal, record
    d = str(tmp_path)
    j = Journal(d, 1, CLOCK)
    payload = {"id": "CAB-1-1:%s" % kind[8], "sid": "CAB-1-1", "port": 0, "ev": kind}
    rec = record("idle")
    rec["pend"] = [[kind, payload]]
    j.save(0, rec)
    sim = Sim(scenario_mod.load(scenkit.scenario(ports=1, duration_s=1)), Records(),
              state_dir=d, panel=False)
    got = []
    while sim.outbox.peek() is not None:
        rid, k, body = sim.outbox.peek()
        got.append((k, json.loads(body)))
        sim.outbox.ack(rid)
    assert (kind, payload) in got, got
    assert store.read(d, "port0")[0]["pend"] == []  # ... and dropped from the journal


def test_a_port_locked_by_a_trip_stays_locked_across_a_power_cut(tmp_path):
    # Boot restores every port from the journal before any relay may close: the shorted
    # port must come back locked, refuse a start and keep its relay open.
    sc = scenario_mod.load({"cabinet": {"ports": 2}, "duration_s": 200, "events": [
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        {"t": 2, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}},
        {"t": 30, "port": 0, "fault": "short"},
        {"t": 60, "power_cut": {"duration_s": 30}},
        {"t": 120, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}}]})
    out = Records()
    sim = Sim(sc, out, state_dir=str(tmp_path), panel=False)
    sim.run()
    ev = out.events
    boot = [e["t"] for e in ev if e["ev"] == "power" and e["on"]]
    assert boot, ev
    assert sim.app.port_state(0) == "locked" and sim.app.lock_reason(0) == "overcurrent"
    replies = [e for e in ev if e["ev"] == "reply"]
    assert replies[0]["ok"] and not replies[1]["ok"], replies
    assert replies[1].get("error") == "port_locked", replies[1]
    closes = [e["t"] for e in ev if e["ev"] == "relay" and e["port"] == 0 and e["on"]]
    assert all(t < 30 for t in closes), closes
