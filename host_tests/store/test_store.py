# Two-slot checksummed records: the newest good copy survives torn writes and garbage.
import binascii

from flashdir import Cut, Power, files, fresh, put, read, wipe

from firmware.store import store

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


def _lcg_bytes(n, seed):
    # Deterministic garbage, the same on both VMs.
    x = seed
    out = bytearray(n)
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def test_never_written_is_none_without_a_problem():
    d = fresh()
    assert store.read(d, "rec") == (None, None)
    wipe(d)


def test_writes_alternate_slots_and_the_newest_wins():
    d = fresh()
    store.write(d, "rec", {"i": 1})
    assert files(d) == ["rec.a"]
    store.write(d, "rec", {"i": 2})
    assert files(d) == ["rec.a", "rec.b"]
    store.write(d, "rec", {"i": 3})  # over the older slot: a
    assert store.read(d, "rec") == ({"i": 3}, None)
    assert read(d + "/rec.a").split(b" ")[1] == b"3"  # seq 3 in slot a
    assert read(d + "/rec.b").split(b" ")[1] == b"2"
    wipe(d)


def test_bytes_written_are_the_slot_file_size():
    d = fresh()
    n = store.write(d, "rec", {"state": "charging", "mwh": 123456})
    assert n == len(read(d + "/rec.a"))
    assert n < 60  # crc, seq, compact JSON: nothing else
    wipe(d)


def test_torn_tmp_file_is_ignored_and_overwritten():
    d = fresh()
    store.write(d, "rec", {"i": 1})
    store.write(d, "rec", {"i": 2})
    full = store.encode(3, {"i": 3})
    put(d + "/rec.tmp", full[:len(full) // 2])  # power cut while writing the temp file
    assert store.read(d, "rec") == ({"i": 2}, None)  # a normal power cut: no alarm
    store.write(d, "rec", {"i": 3})
    assert store.read(d, "rec") == ({"i": 3}, None)
    assert "rec.tmp" not in files(d)
    wipe(d)


def test_truncated_newest_slot_falls_back_to_the_older_with_a_problem():
    d = fresh()
    store.write(d, "rec", {"i": 1})  # a
    store.write(d, "rec", {"i": 2})  # b
    data = read(d + "/rec.b")
    for cut in (0, 1, 8, 9, 12, len(data) - 1):
        put(d + "/rec.b", data[:cut])
        obj, problem = store.read(d, "rec")
        assert obj == {"i": 1}, cut
        assert "rec.b" in problem and "rec.a" in problem, problem
    wipe(d)


def test_wrong_crc_is_refused():
    d = fresh()
    store.write(d, "rec", {"i": 1})
    store.write(d, "rec", {"i": 22})
    data = bytearray(read(d + "/rec.b"))
    data[-3] = ord("3")  # {"i":23}: same length, valid JSON, stale CRC
    put(d + "/rec.b", bytes(data))
    obj, problem = store.read(d, "rec")
    assert obj == {"i": 1}
    assert problem.startswith("rec.b: bad checksum"), problem
    wipe(d)


def test_garbage_never_raises():
    d = fresh()
    store.write(d, "rec", {"i": 1})
    store.write(d, "rec", {"i": 2})
    garbage = [b"", b"\n", b"\xff" * 40, b"zzzzzzzz 1 {}\n", b"00000000 x\n",
               _lcg_bytes(5000, 7)]
    for seed in range(40):
        garbage.append(_lcg_bytes(1 + seed * 13, seed))
    for g in garbage:
        put(d + "/rec.b", g)
        obj, problem = store.read(d, "rec")
        assert obj == {"i": 1} and "rec.b" in problem, (g, problem)
    wipe(d)


def test_an_oversized_slot_is_too_long_by_its_size():
    # Judged from the file's size, before any read: a read buffer is only ever the size
    # of a real slot (no 4 KB block asked of a fragmented heap).
    d = fresh()
    store.write(d, "rec", {"i": 1})
    good = store.encode(7, {"i": 2})
    put(d + "/rec.b", good + b" " * 4096)
    obj, problem = store.read(d, "rec")
    assert obj == {"i": 1} and problem.startswith("rec.b: too long"), problem
    put(d + "/rec.b", good)
    assert store.read(d, "rec") == ({"i": 2}, None)
    wipe(d)


def test_checksummed_content_that_is_not_json_is_a_problem():
    d = fresh()
    body = b"5 {not json"
    put(d + "/rec.a", b"%08x %s\n" % (binascii.crc32(body) & 0xFFFFFFFF, body))
    obj, problem = store.read(d, "rec")
    assert obj is None and problem == "rec.a: bad content", problem
    wipe(d)


def test_both_slots_bad_is_none_and_a_problem_naming_both():
    d = fresh()
    put(d + "/rec.a", b"garbage")
    put(d + "/rec.b", _lcg_bytes(300, 3))
    obj, problem = store.read(d, "rec")
    assert obj is None
    assert "rec.a" in problem and "rec.b" in problem
    wipe(d)


def test_a_write_after_a_bad_slot_keeps_the_good_copy():
    d = fresh()
    store.write(d, "rec", {"i": 1})  # a, seq 1
    store.write(d, "rec", {"i": 2})  # b, seq 2
    store.write(d, "rec", {"i": 3})  # a, seq 3
    put(d + "/rec.a", b"rot")  # the newest is lost; b holds seq 2
    store.write(d, "rec", {"i": 4})  # must go to a (the bad one), not over b
    assert read(d + "/rec.b").split(b" ")[1] == b"2"
    assert store.read(d, "rec") == ({"i": 4}, None)
    wipe(d)


def test_power_cut_at_every_step_leaves_the_last_or_the_new_copy():
    d = fresh()
    store.write(d, "rec", {"i": 0, "pad": "x" * 30})
    step = 0
    done = False
    last = 0
    while not done:
        power = Power([store], left=step)
        try:
            store.write(d, "rec", {"i": last + 1, "pad": "x" * 30})
            done = True
        except Cut:
            pass
        finally:
            power.restore()
        obj, problem = store.read(d, "rec")
        assert problem is None, (step, problem)
        assert obj["i"] == (last + 1 if done else last), (step, obj)
        step += 1
    assert step > 40  # every byte of the temp file, then the rename
    wipe(d)


def test_remove_forgets_the_record():
    d = fresh()
    store.write(d, "rec", {"i": 1})
    store.write(d, "rec", {"i": 2})
    put(d + "/rec.tmp", b"x")
    store.remove(d, "rec")
    assert files(d) == []
    assert store.read(d, "rec") == (None, None)
    wipe(d)
