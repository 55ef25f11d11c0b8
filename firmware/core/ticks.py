# Stored ticks that stay comparable, and counters that wrap like ticks.
#
# On the ESP32 time.ticks_ms() wraps at 2**30 and ticks_diff(a, b) is only meaningful
# while the true gap is under 2**29 ms (6.2 days). A tick stored once and compared for
# ever (a "since" or a deadline long past) stops meaning anything after 6.2 days of
# uptime. The rule here: every stored tick is either re-armed whenever it is used (a
# periodic deadline, a per-operation timer) or passed through fresh() at least once a
# second, which saturates its age at AGE_CAP_MS. A saturated age is still older than
# every timeout it is compared with (the longest, max_session_s, is 48 h), so short gaps
# behave exactly as before. host_tests/test_stored_ticks.py lists each stored tick and
# how it is kept fresh.
#
# Energy counters (mWh, pulses) wrap at 2**30 too, so they stay small ints on the
# ESP32 (31-bit); counter_diff() takes a wrapped difference like ticks_diff.

AGE_CAP_MS = 1 << 28  # 3.1 days: above every timeout compared, below the 2**29 limit
WRAP_MASK = 0x3FFFFFFF  # counters wrap at 2**30 (the largest ESP32 small int is this)
_HALF = 0x20000000


def fresh(clock, now, t):
    """t, or now - AGE_CAP_MS when t is older than that (allocation-free)."""
    if clock.ticks_diff(now, t) > AGE_CAP_MS:
        return clock.ticks_add(now, -AGE_CAP_MS)
    return t


def fresh_all(clock, now, ts):
    """fresh() on every tick of list ts, in place."""
    for i in range(len(ts)):
        if clock.ticks_diff(now, ts[i]) > AGE_CAP_MS:
            ts[i] = clock.ticks_add(now, -AGE_CAP_MS)


def wrap_add(c, d):
    """Counter c (0..WRAP_MASK) plus d (0..WRAP_MASK), wrapped at 2**30; no long ints."""
    room = WRAP_MASK - c
    return c + d if d <= room else d - room - 1


def counter_diff(a, b):
    """a - b for counters wrapped at 2**30, in -2**29..2**29-1 (like ticks_diff)."""
    d = a - b
    if d >= _HALF:
        d -= WRAP_MASK
        d -= 1
    elif d < -_HALF:
        d += WRAP_MASK
        d += 1
    return d
