# Port journal: records restore a session exactly; the boot counter never repeats;
# checkpoints fall due every checkpoint_s while charging, across the ticks wrap.
from flashdir import Cut, Power, fresh, put, wipe
from vclock import VClock

from firmware.core.billing import Bill, Tariff
from firmware.core.session import Session
from firmware.store import store
from firmware.store.journal import Journal, check, record, restore_session

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

TARIFF = Tariff(52, 80)


def _session():
    s = Session("cab1-7-3", 4, "card:04A1B2C3", "wh", 2000, "ord-99", 1764201600, Bill(TARIFF))
    s.not_before = 1764205200
    s.charge_ms = 3723456
    s.mwh = 612345
    s.peak_mw = 183250
    s.seq = 700003
    for d in (1000, 2500, 608845):
        s.bill.add_energy(d)
    return s


def test_a_saved_session_is_restored_exactly():
    d = fresh()
    j = Journal(d, 10, VClock())
    j.next_boot()
    s = _session()
    j.save(4, record("charging", session=s, base_mwh=98765432))
    recs, problems = Journal(d, 10, VClock()).load()
    assert problems == []
    assert recs[4]["state"] == "charging" and recs[4]["boot"] == 1
    assert recs[4]["session"]["base_mwh"] == 98765432
    assert [r for i, r in enumerate(recs) if i != 4] == [None] * 9
    r = restore_session(recs[4], 4, TARIFF)
    for k in ("sid", "port", "auth", "limit_kind", "limit_value", "order", "start_epoch",
              "not_before", "charge_ms", "mwh", "peak_mw", "seq"):
        assert getattr(r, k) == getattr(s, k), k
    assert r.bill.state() == s.bill.state()
    # the restored bill goes on exactly as the original would have
    s.bill.add_energy(77777)
    r.bill.add_energy(77777)
    assert r.bill.state() == s.bill.state() and r.bill.fen == s.bill.fen
    wipe(d)


def test_idle_and_locked_ports_have_no_session():
    d = fresh()
    j = Journal(d, 3, VClock())
    j.save(0, record("idle"))
    j.save(2, record("locked", lock="overcurrent"))
    recs, problems = j.load()
    assert problems == [] and recs[1] is None
    assert recs[2]["lock"] == "overcurrent" and recs[2]["session"] is None
    assert restore_session(recs[2], 2, TARIFF) is None
    wipe(d)


def test_check_refuses_records_the_app_could_not_restore():
    good = record("charging", session=_session())
    assert check(good) is None
    assert check([1]) is not None
    assert check({"v": 2, "state": "idle"}) is not None
    for key, bad in (("mwh", -1), ("charge_ms", True), ("seq", "7"), ("bill", [1, 2]),
                     ("bill", [0, 0, 0, 0, 0, -1]), ("limit", ["volts", 3]), ("sid", None)):
        rec = record("charging", session=_session())
        rec["session"][key] = bad
        assert check(rec) is not None, key


def test_load_reports_corrupt_and_unrestorable_records():
    d = fresh()
    j = Journal(d, 3, VClock())
    j.save(0, record("idle"))
    j.save(0, record("charging", session=_session()))
    put(d + "/port0.b", b"torn")  # the newest copy of port 0
    store.write(d, "port1", {"v": 1})  # verifies, but no state
    recs, problems = j.load()
    assert recs[0]["state"] == "idle"  # the older good copy
    assert recs[1] is None
    assert len(problems) == 2
    assert "port0.b" in problems[0] and problems[1].startswith("port1: ")
    wipe(d)


def test_counters_count_every_write():
    d = fresh()
    j = Journal(d, 2, VClock())
    j.next_boot()
    j.save(0, record("idle"))
    j.save(1, record("charging", session=_session()))
    assert j.writes == 3
    size = 0
    for name in ("boot.a", "port0.a", "port1.a"):
        with open(d + "/" + name, "rb") as f:
            size += len(f.read())
    assert j.bytes_written == size
    wipe(d)


def test_boot_numbers_grow_across_reboots():
    d = fresh()
    got = [Journal(d, 2, VClock()).next_boot() for _ in range(5)]
    assert got == [1, 2, 3, 4, 5]
    wipe(d)


def test_boot_numbers_never_repeat_with_power_cuts_at_every_write_step():
    # Cut the power at step k of next_boot()'s write (each byte of the temp file, then
    # the rename), for every k, twice in a row, with clean boots in between: every number
    # a boot got must be above all those before it.
    d = fresh()
    used = [Journal(d, 2, VClock()).next_boot()]
    step = 0
    while True:
        cut = 0
        for _ in range(2):
            power = Power([store], left=step)
            try:
                used.append(Journal(d, 2, VClock()).next_boot())
            except Cut:
                cut += 1
            finally:
                power.restore()
        used.append(Journal(d, 2, VClock()).next_boot())
        if not cut:
            break
        step += 1
    assert step > 10
    for a, b in zip(used, used[1:]):
        assert b > a, used
    wipe(d)


def test_a_bad_newest_boot_copy_skips_ahead():
    d = fresh()
    for _ in range(3):
        Journal(d, 2, VClock()).next_boot()  # 1 in a, 2 in b, 3 in a
    put(d + "/boot.a", b"rot")  # 3 is lost; b says 2
    j = Journal(d, 2, VClock())
    n = j.next_boot()
    assert n > 3 and "boot.a" in j.boot_problem
    assert Journal(d, 2, VClock()).next_boot() == n + 1
    wipe(d)


def test_boot_counter_lost_entirely_starts_above_the_port_records():
    d = fresh()
    j = Journal(d, 2, VClock())
    for _ in range(40):
        j.next_boot()
    j.save(1, record("idle"))  # stamped boot 40
    for s in ("a", "b"):
        put(d + "/boot." + s, b"\x00" * 20)
    assert Journal(d, 2, VClock()).next_boot() > 40
    store.remove(d, "boot")  # deleted, not damaged: the port records still tell
    assert Journal(d, 2, VClock()).next_boot() > 40
    wipe(d)


def test_checkpoints_fall_due_every_checkpoint_s_while_charging():
    d = fresh()
    clock = VClock()  # ticks wrap 600 s in
    j = Journal(d, 2, clock, checkpoint_s=60)
    assert j.due(0, clock.ticks_ms(), True)  # never saved
    assert not j.due(0, clock.ticks_ms(), False)
    saves = 0
    for _ in range(1200):  # 20 minutes in 1 s steps, across the wrap
        clock.advance_ms(1000)
        if j.due(0, clock.ticks_ms(), True):
            j.save(0, record("charging", session=_session()))
            saves += 1
        assert not j.due(1, clock.ticks_ms(), False)
    assert saves == 20  # one every 60 s, first one at once
    wipe(d)


def test_a_checkpoint_older_than_half_the_ticks_period_is_due():
    d = fresh()
    clock = VClock()
    j = Journal(d, 1, clock, checkpoint_s=60)
    j.save(0, record("idle"))
    clock.advance_ms((1 << 29) + 5000)  # 6.2 days idle: ticks_diff turns negative
    assert j.due(0, clock.ticks_ms(), True)
    wipe(d)
