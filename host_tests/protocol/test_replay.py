# jti replay protection: replayed, expired, persistence across a reboot, the bound, and
# the policy while the wall clock is not set.
import os
import random

from firmware.protocol.replay import BAD_ARGS, EXPIRED, REPLAYED, ReplayGuard

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

NOW = 1764201600
DAY = 86400


def _path():
    base = "/tmp" if _isdir("/tmp") else "."
    return "%s/replay_test_%d.json" % (base, random.getrandbits(30))


def _isdir(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _cleanup(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def test_first_use_accepted_second_replayed():
    path = _path()
    try:
        g = ReplayGuard(path)
        assert g.check_and_add("a", NOW + 60, NOW) is None
        assert g.check_and_add("a", NOW + 60, NOW + 1) == REPLAYED
        assert g.check_and_add("b", NOW + 60, NOW + 1) is None
        assert g.check_and_add("a", NOW + 300, NOW + 2) == REPLAYED  # same jti, other exp
    finally:
        _cleanup(path)


def test_expired_token_refused_and_entries_forgotten_after_exp():
    path = _path()
    try:
        g = ReplayGuard(path)
        assert g.check_and_add("old", NOW, NOW) == EXPIRED  # exp == now is expired
        assert g.check_and_add("old", NOW - 5, NOW) == EXPIRED
        assert "old" not in g.seen  # a refused token is not remembered
        assert g.check_and_add("x", NOW + 60, NOW) is None
        assert "x" in g.seen
        # After exp the entry is pruned; a replay then is refused as expired instead.
        assert g.check_and_add("y", NOW + 200, NOW + 61) is None
        assert "x" not in g.seen
        assert g.check_and_add("x", NOW + 60, NOW + 61) == EXPIRED
    finally:
        _cleanup(path)


def test_replay_after_reboot_is_refused():
    path = _path()
    try:
        g = ReplayGuard(path)
        assert g.check_and_add("cmd-1", NOW + 120, NOW) is None
        assert g.check_and_add("cmd-2", NOW + 120, NOW) is None
        g2 = ReplayGuard(path)  # a reboot: a fresh object from the file
        assert g2.check_and_add("cmd-1", NOW + 120, NOW + 10) == REPLAYED
        assert g2.check_and_add("cmd-2", NOW + 120, NOW + 10) == REPLAYED
        assert g2.check_and_add("cmd-3", NOW + 120, NOW + 10) is None
        assert not _isdir(path + ".tmp")  # the temp file was renamed over
        g3 = ReplayGuard(path)
        assert g3.check_and_add("cmd-3", NOW + 120, NOW + 11) == REPLAYED
    finally:
        _cleanup(path)


def test_leftover_temp_file_and_garbage_file_do_not_crash():
    path = _path()
    try:
        with open(path + ".tmp", "w") as f:
            f.write('{"t": 1, "f"')  # a write cut short by a power loss
        with open(path, "w") as f:
            f.write("garbage")
        g = ReplayGuard(path)
        assert not _isdir(path + ".tmp")
        assert g.check_and_add("a", NOW + 60, NOW) is None
        assert ReplayGuard(path).check_and_add("a", NOW + 60, NOW) == REPLAYED
    finally:
        _cleanup(path)


def test_exp_too_far_ahead_and_bad_jti_are_bad_args():
    path = _path()
    try:
        g = ReplayGuard(path, max_ttl_s=DAY)
        assert g.too_far(NOW + DAY + 1, NOW) and not g.too_far(NOW + DAY, NOW)
        assert g.check_and_add("far", NOW + DAY + 1, NOW) == BAD_ARGS
        assert g.check_and_add("ok", NOW + DAY, NOW) is None
        for jti in (None, 5, "", "j" * 65):
            assert g.check_and_add(jti, NOW + 60, NOW) == BAD_ARGS
        for exp in (None, "1764201660", True):
            assert g.check_and_add("e", exp, NOW) == BAD_ARGS
        # JSON's 1e999 is inf and NaN compares false: refused, never int(inf)'s OverflowError
        for exp in (float("inf"), float("-inf"), float("nan"), 1e300):
            assert g.check_and_add("e", exp, NOW) == BAD_ARGS
    finally:
        _cleanup(path)


def test_bound_holds_and_an_evicted_token_still_cannot_be_replayed():
    path = _path()
    try:
        g = ReplayGuard(path, cap=16)
        # 40 live tokens, exp increasing: more than the cap within their lifetime.
        for i in range(40):
            assert g.check_and_add("t%d" % i, NOW + 100 + i, NOW) is None
            assert len(g.seen) <= 16
        # Every one of them, evicted or not, is refused on replay.
        for i in range(40):
            assert g.check_and_add("t%d" % i, NOW + 100 + i, NOW + 1) == REPLAYED, i
        # A new token living longer than the forgotten ones is fine.
        assert g.check_and_add("new", NOW + 200, NOW + 1) is None
        # The file stays bounded too.
        assert os.stat(path)[6] < 16 * (64 + 30) + 100
        # Once the floor has expired it is dropped.
        assert g.check_and_add("late", NOW + 400, NOW + 300) is None
        assert g.floor_exp == 0 and len(g.seen) == 1
    finally:
        _cleanup(path)


def test_set_drains_within_max_ttl():
    # With exp <= now + max_ttl enforced, the set never needs eviction at a modest rate:
    # 10 000 commands, one every 60 s, each living 300 s -> at most 5 live at a time.
    path = _path()
    try:
        g = ReplayGuard(path, cap=8)
        for i in range(2000):
            now = NOW + 60 * i
            assert g.check_and_add("c%d" % i, now + 300, now) is None
            assert len(g.seen) <= 5
        assert g.floor_exp == 0
    finally:
        _cleanup(path)


def test_clock_not_set_policy():
    path = _path()
    try:
        g = ReplayGuard(path)
        assert g.check_and_add("seen-with-clock", NOW + 600, NOW) is None
        # Reboot without a wall clock: "now" is taken as the last time seen (NOW).
        g2 = ReplayGuard(path)
        assert g2.time_floor == NOW
        bogus_now = 946684800  # ESP32 RTC after a power cut: 2000-01-01
        # A token expired before the last known time is refused (captured old command).
        assert g2.check_and_add("captured", NOW - 1, bogus_now, clock_set=False) == EXPIRED
        # Replays are refused, fresh tokens accepted and remembered.
        assert g2.check_and_add("seen-with-clock", NOW + 600, bogus_now, False) == REPLAYED
        assert g2.check_and_add("fresh", NOW + 3600, bogus_now, clock_set=False) is None
        assert g2.check_and_add("fresh", NOW + 3600, bogus_now, clock_set=False) == REPLAYED
        # Nothing is pruned on an unset clock, even with a tiny "now".
        assert "seen-with-clock" in g2.seen
        # The clock gets set an hour later: entries expired meanwhile are pruned at once.
        assert g2.check_and_add("after", NOW + 3700 + 60, NOW + 3700) is None
        assert "seen-with-clock" not in g2.seen and "fresh" not in g2.seen
        assert ReplayGuard(path).check_and_add("after", NOW + 3760, 0, False) == REPLAYED
    finally:
        _cleanup(path)
