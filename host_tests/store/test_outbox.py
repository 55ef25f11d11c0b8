# On-flash outbox: order, stable ids, ack semantics, torn tails, compaction, full policy.
import json

from flashdir import Cut, Power, fresh, put, read, wipe

from firmware.store import outbox as outbox_mod
from firmware.store.outbox import Outbox

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


def _end(i, pad=0):
    return {"sid": "cab1-3-%d" % i, "port": i % 10, "start": 1764201600, "wh": 512.3,
            "fen": 150, "reason": "full", "pad": "x" * pad}


def _alarm(i):
    return {"code": "port_overtemp", "port": i % 10, "level": "warning", "state": "raised"}


def _biggest(ob):
    """A session_end payload whose log line is exactly max_record bytes."""
    n = ob.next_n
    p = _end(5)
    p["id"] = str(n)
    size = len(outbox_mod._line(b"P %d %d session_end %s"
                                % (n, n, json.dumps(p, separators=(",", ":")).encode())))
    del p["id"]
    p["pad"] = "x" * (ob.max_record - size)
    return p


def _drain(ob):
    """[(id, kind, payload dict)] of everything pending, acking as a server would."""
    out = []
    while True:
        h = ob.peek()
        if h is None:
            return out
        out.append((h[0], h[1], json.loads(h[2])))
        assert ob.ack(h[0])


def test_records_come_out_in_order_with_their_ids():
    d = fresh()
    ob = Outbox(d)
    ids = [ob.put("session_end", _end(i)) for i in range(5)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert ob.pending == 5
    got = _drain(ob)
    assert [g[0] for g in got] == ids
    assert [g[2]["sid"] for g in got] == ["cab1-3-%d" % i for i in range(5)]
    assert all(g[2]["id"] == g[0] for g in got)  # the payload carries the id
    assert ob.pending == 0 and ob.bytes_used == 0 and ob.peek() is None
    wipe(d)


def test_payload_bytes_are_compact_json_and_an_own_id_is_kept():
    d = fresh()
    ob = Outbox(d, prefix="cab1-o")
    p = _alarm(1)
    p["id"] = "cab1-3-a7"
    assert ob.put("alarm", p) == "cab1-o1"
    rid, kind, data = ob.peek()
    assert (rid, kind) == ("cab1-o1", "alarm")
    assert b" " not in data.replace(b"port_overtemp", b"")  # no separator spaces
    assert json.loads(data) == p and json.loads(data)["id"] == "cab1-3-a7"
    wipe(d)


def test_only_the_oldest_can_be_acked():
    d = fresh()
    ob = Outbox(d)
    a = ob.put("session_start", _end(1))
    b = ob.put("session_end", _end(1))
    assert ob.ack(b) is False and ob.ack("nope") is False
    assert ob.pending == 2
    assert ob.ack(a) is True
    assert ob.ack(a) is False  # twice: no-op
    assert ob.peek()[0] == b
    assert ob.ack(b) and ob.ack(b) is False and ob.peek() is None
    wipe(d)


def test_ids_and_order_survive_a_restart_and_ids_are_never_reused():
    d = fresh()
    ob = Outbox(d)
    ids = [ob.put("session_end", _end(i)) for i in range(6)]
    ob.ack(ids[0])
    ob.ack(ids[1])
    used = ob.bytes_used
    ob2 = Outbox(d)
    assert ob2.problems == [] and ob2.pending == 4 and ob2.bytes_used == used
    assert [g[0] for g in _drain(ob2)] == ids[2:]
    assert Outbox(d).put("alarm", _alarm(1)) == "7"  # after all acked: still 7
    for _ in range(200):  # many put/ack cycles compact the log to a header only
        ob3 = Outbox(d)
        ob3.ack(ob3.peek()[0])
        ob3.put("alarm", _alarm(2))
    assert Outbox(d).peek()[0] == "207"
    wipe(d)


def test_an_ack_cut_by_the_power_is_delivered_again_with_the_same_id():
    d = fresh()
    ob = Outbox(d)
    rid = ob.put("session_end", _end(1))
    power = Power([outbox_mod], left=5)
    try:
        ob.ack(rid)
        raise AssertionError("no cut")
    except Cut:
        pass
    finally:
        power.restore()
    ob2 = Outbox(d)
    assert ob2.peek()[0] == rid and ob2.pending == 1
    assert ob2.problems and "torn tail" in ob2.problems[0]
    wipe(d)


def test_a_torn_tail_line_is_dropped_and_nothing_is_appended_after_it():
    d = fresh()
    ob = Outbox(d)
    ids = [ob.put("session_end", _end(i)) for i in range(3)]
    log = read(d + "/outbox.log")
    put(d + "/outbox.log", log + b"1234abcd P 4 4 session_end {\"si")
    ob2 = Outbox(d)
    assert ob2.problems == ["outbox.log: dropped 1 bad line(s) (torn tail)"]
    assert ob2.pending == 3
    new = ob2.put("session_end", _end(9))
    ob3 = Outbox(d)
    assert ob3.problems == []
    assert [g[0] for g in _drain(ob3)] == ids + [new]
    wipe(d)


def test_a_corrupt_line_in_the_middle_loses_only_itself():
    d = fresh()
    ob = Outbox(d)
    ids = [ob.put("session_end", _end(i)) for i in range(3)]
    log = bytearray(read(d + "/outbox.log"))
    second = log.index(b"\n") + 1
    log[second + 30] ^= 0x01  # a flipped bit in record 2
    put(d + "/outbox.log", bytes(log))
    ob2 = Outbox(d)
    assert ob2.problems == ["outbox.log: dropped 1 bad line(s)"]
    assert [g[0] for g in _drain(ob2)] == [ids[0], ids[2]]
    wipe(d)


def test_garbage_log_opens_empty_with_a_problem():
    d = fresh()
    x = 99
    junk = bytearray(3000)
    for i in range(3000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        junk[i] = (x >> 16) & 0xFF
    put(d + "/outbox.log", bytes(junk))
    ob = Outbox(d)
    assert ob.pending == 0 and ob.problems
    assert ob.put("alarm", _alarm(1)) == "1"
    assert Outbox(d).pending == 1
    wipe(d)


def test_compaction_keeps_order_and_shrinks_the_log():
    d = fresh()
    ob = Outbox(d)
    ids = [ob.put("session_end" if i % 3 else "alarm", _end(i, pad=40)) for i in range(80)]
    for rid in ids[:50]:
        assert ob.ack(rid)
    log = read(d + "/outbox.log")
    # compacted whenever dead bytes reach max(pending bytes, 4 KiB): the log stays below
    # twice what is pending (plus one block), and starts with the sequence floor
    assert len(log) - ob.bytes_used < max(ob.bytes_used, 4096), (len(log), ob.bytes_used)
    assert ob.bytes_written > 2 * len(log)
    assert log.split(b"\n")[0].endswith(b" N 81")
    assert [g[0] for g in _drain(Outbox(d))] == ids[50:]
    wipe(d)


def test_power_cut_at_every_step_of_a_compaction_loses_and_reorders_nothing():
    base = fresh()
    ob = Outbox(base)
    ids = [ob.put("session_end", _end(i, pad=60)) for i in range(60)]
    for rid in ids[:29]:
        ob.ack(rid)
    log = read(base + "/outbox.log")
    wipe(base)
    step = 0
    while True:
        d = fresh("cut")
        put(d + "/outbox.log", log)
        ob = Outbox(d)
        power = Power([outbox_mod], left=step)
        try:
            ob.ack(ids[29])  # the ack that makes dead >= pending: compaction
            done = True
        except Cut:
            done = False
        finally:
            power.restore()
        got = [g[0] for g in _drain(Outbox(d))]
        assert got == ids[30:] or got == ids[29:], (step, got[:3])
        wipe(d)
        if done:
            break
        step += 97  # every 97th byte: about 60 cut points through the 6 KB rewrite
    assert step > 5000
    assert len(log) > 8000


def test_nearly_full_above_three_quarters():
    d = fresh()
    ob = Outbox(d, max_bytes=16384)
    while not ob.nearly_full:
        ob.put("session_end", _end(1))
    assert ob.bytes_used > 12288
    assert Outbox(d, max_bytes=16384).nearly_full  # after a restart too
    wipe(d)


def test_full_drops_the_oldest_alarms_and_never_a_session_record():
    d = fresh()
    ob = Outbox(d, max_bytes=16384)
    sessions = []
    alarms = []
    for i in range(400):
        if i % 4 == 0:
            sessions.append(ob.put("session_end", _end(i)))
        else:
            rid = ob.put("alarm", _alarm(i))
            if rid is not None:
                alarms.append(rid)
        if ob.nearly_full and i % 4 == 0:
            break
    assert ob.nearly_full and ob.dropped == 0
    before = ob.bytes_used
    for _ in range(40):  # an alarm storm while full: the oldest alarms make room
        alarms.append(ob.put("alarm", _alarm(3)))
    assert ob.bytes_used <= 16384 and ob.dropped > 0
    for _ in range(17):  # 1 start + 16 ends still fit (max_record arithmetic)
        sessions.append(ob.put("session_end", _biggest(ob)))
    assert ob.bytes_used <= 16384
    got = _drain(Outbox(d, max_bytes=16384))
    kept = [g[0] for g in got]
    assert [k for k in kept if k in sessions] == sessions  # every one, in order
    surviving = [a for a in alarms if a in kept]
    assert surviving == alarms[len(alarms) - len(surviving):]  # the newest alarms
    assert before > 12288
    wipe(d)


def test_seventeen_biggest_session_records_fit_above_three_quarters():
    # The guarantee behind "never drop a session record": the app starts no session while
    # nearly_full, so from the last start (<= 3/4 used) at most 1 start + 16 ends follow.
    for max_bytes in (16384, 65536):
        d = fresh()
        ob = Outbox(d, max_bytes=max_bytes)
        while ob.bytes_used + 150 <= max_bytes * 3 // 4:
            ob.put("session_end", _end(1))
        assert not ob.nearly_full
        for _ in range(17):
            before = ob.bytes_used
            ob.put("session_end", _biggest(ob))
            assert ob.bytes_used - before == ob.max_record
        assert ob.bytes_used <= max_bytes and ob.dropped == 0
        wipe(d)


def test_an_alarm_storm_while_full_keeps_the_log_bounded():
    # Disconnected, full, and a flapping sensor: every put drops the oldest alarm. The
    # dead lines get compacted away: the log stays under 2 x max_bytes + 4 KiB.
    d = fresh()
    ob = Outbox(d, max_bytes=16384)
    for i in range(600):
        ob.put("alarm", _alarm(i))
        assert ob.file_bytes <= 2 * 16384 + 4096 + ob.max_record
    assert ob.dropped > 400 and ob.bytes_used <= 16384
    assert len(read(d + "/outbox.log")) == ob.file_bytes
    wipe(d)


def test_an_alarm_that_cannot_fit_is_dropped_itself():
    d = fresh()
    ob = Outbox(d, max_bytes=16384)
    for pad in (ob.max_record - 200, 100, 30, 0):  # sessions up to the last ~130 bytes
        try:
            while True:
                ob.put("session_end", _end(1, pad=pad))
        except OSError:
            pass
    n = ob.pending
    alarm = _alarm(1)
    alarm["value"] = "v" * 120  # a 250-byte alarm line
    assert ob.put("alarm", alarm) is None
    assert ob.dropped == 1 and ob.pending == n
    wipe(d)


def test_a_session_record_past_the_hard_cap_raises_and_an_oversized_one_too():
    d = fresh()
    ob = Outbox(d, max_bytes=16384)
    try:
        ob.put("session_end", _end(1, pad=ob.max_record))
        raise AssertionError("oversized record accepted")
    except ValueError:
        pass
    try:
        while True:
            ob.put("session_end", _end(1, pad=100))
    except OSError:
        pass
    assert ob.bytes_used <= 16384 and ob.dropped == 0
    wipe(d)


def test_counters():
    d = fresh()
    ob = Outbox(d)
    rid = ob.put("session_end", _end(1))
    ob.ack(rid)
    assert ob.writes == 2
    assert ob.bytes_written == len(read(d + "/outbox.log"))
    assert ob.max_record == 963  # 64 KiB / 4 / 17
    wipe(d)
