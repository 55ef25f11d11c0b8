"""SIGKILL a MicroPython writer at chosen flash operations; after each kill the flash must
hold a valid record (the last or the in-flight write), and the outbox every put record not
yet acked, in order, once, under the id its put returned, and boot numbers must grow.

Each run kills itself at its Nth flash operation (a store or outbox write, rename or
remove; tools/sim/flashcut.py), just before it or halfway through the write, N drawn from
a fixed seed: every run of the test cuts at the same moments, whatever the machine's
load (one in four inside the start-up: boot counter and outbox open).

The writer runs the real modules on the unix port and prints a line after each call
returns (unbuffered): "W i" store written, "P id i" put, "K id" about to ack, "A id"
acked, "B n" boot number. A kill is a process crash (the OS keeps written data), not a
power cut; the power-cut cases are the Power() tests of the DUAL store tests
(test_store.py, test_journal.py, test_outbox.py).
"""

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile

from conftest import FULL
from mpy import MICROPYTHON, PRELUDE, device_code

from firmware.store import store
from firmware.store.outbox import Outbox

KILLS = 300 if FULL else 60
SEED = int(os.environ.get("KILL_SEED", "20251127"))

WRITER = PRELUDE + device_code(__file__, "kill_writer.py")


def kill_points(n, seed):
    """n cut specs ("N" or "Nt": flash operation N, torn), the same for a given seed."""
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        at = rnd.randint(1, 8) if k % 4 == 3 else rnd.randint(9, 400)
        out.append("%d%s" % (at, "t" if rnd.random() < 0.5 else ""))
    return out


def _run_once(script, d, start_i, cut):
    p = subprocess.run([MICROPYTHON, script, d, str(start_i), cut], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, (cut, p.returncode, p.stderr[-2000:])
    lines = []
    for line in p.stdout.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # cut by the kill mid-print: the call had returned, no matter
        lines.append(line.split())
    return lines


def _drain_copy(d):
    """Everything the outbox would deliver after this restart: [(id, i)]."""
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "c")
        shutil.copytree(d, c)
        ob = Outbox(c, max_bytes=16384)
        out = []
        while True:
            h = ob.peek()
            if h is None:
                return out
            out.append((h[0], json.loads(h[2])["i"]))
            assert ob.ack(h[0])


def test_sigkill_at_chosen_flash_operations_loses_and_duplicates_nothing(tmp_path):
    script = str(tmp_path / "writer.py")
    with open(script, "w") as f:
        f.write(WRITER)
    d = str(tmp_path / "flash")
    os.mkdir(d)
    put_order = []  # ids whose put returned, in order
    id_i = {}  # id -> i, every id ever seen
    acked = set()
    boots = []
    rec_i = None  # i of the last confirmed store write
    start_i = 0
    stats = {"kills": 0, "torn": 0, "before_ready": 0, "inflight_write_done": 0,
             "inflight_put_done": 0,
             "inflight_ack_done": 0, "tmp_left": 0, "max_pending": 0, "writes": 0,
             "compaction_cut": 0}
    for cut in kill_points(KILLS, SEED):
        lines = _run_once(script, d, start_i, cut)
        stats["kills"] += 1
        stats["torn"] += cut.endswith("t")
        last_w = None
        last_i = start_i  # the highest i this run may have reached
        inflight_ack = None
        for ln in lines:
            if ln[0] == "B":
                boots.append(int(ln[1]))
            elif ln[0] == "W":
                last_w = int(ln[1])
                last_i = last_w
                stats["writes"] += 1
            elif ln[0] == "P":
                rid, i = ln[1], int(ln[2])
                assert rid not in id_i, "id %s reused" % rid
                id_i[rid] = i
                put_order.append(rid)
            elif ln[0] == "K":
                inflight_ack = ln[1]
            elif ln[0] == "A":
                acked.add(ln[1])
                inflight_ack = None
        if not any(ln[0] == "O" for ln in lines):
            stats["before_ready"] += 1
        if os.path.exists(os.path.join(d, "outbox.tmp")):
            stats["compaction_cut"] += 1  # killed inside a compaction
        if os.path.exists(os.path.join(d, "rec.tmp")):
            stats["tmp_left"] += 1
        # the store: the last confirmed write, or the one in flight (one more)
        obj, problem = store.read(d, "rec")
        assert problem is None, problem
        if last_w is not None:
            rec_i = last_w
        if obj is None:
            assert rec_i is None
        else:
            assert obj["i"] in (rec_i, last_i + 1), (obj, rec_i, last_i)
            if obj["i"] != rec_i:
                stats["inflight_write_done"] += 1
            rec_i = obj["i"]
        # the outbox: what is pending, in put order, each under its one id
        got = _drain_copy(d)
        stats["max_pending"] = max(stats["max_pending"], len(got))
        ids = [g[0] for g in got]
        assert len(set(ids)) == len(ids), "an id delivered twice"
        expect = [r for r in put_order if r not in acked]
        if inflight_ack is not None and expect and expect[0] == inflight_ack \
                and inflight_ack not in ids:
            acked.add(inflight_ack)  # the ack was written, the kill came before "A"
            expect = expect[1:]
            stats["inflight_ack_done"] += 1
        known = [r for r in ids if r in id_i]
        assert known == expect, (known[:5], expect[:5])
        unknown = [g for g in got if g[0] not in id_i]
        assert len(unknown) <= 1, unknown
        if unknown:
            rid, i = unknown[0]
            assert ids[-1] == rid, "the in-flight put is the newest"
            assert i == last_i and i not in id_i.values(), (i, last_i)
            id_i[rid] = i
            put_order.append(rid)
            stats["inflight_put_done"] += 1
        start_i = last_i + 10  # the next run's i values never meet this run's
    for a, b in itertools.pairwise(boots):
        assert b > a, boots
    print("kill test:", stats, "records put:", len(put_order), "boots:", len(boots))
    assert stats["kills"] >= 50
    assert stats["kills"] - stats["before_ready"] >= 25  # most kills land mid-loop
    assert len(put_order) > 10 * KILLS  # about 40 loops per run
