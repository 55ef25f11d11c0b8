"""Per-port journal: what each port needs to be restored before any relay closes.

One store record per port (`port0`, `port1`, ...; store.py: two checksummed slots, atomic
rename), written on every state change and, while charging, every `checkpoint_s`
(`due()` says when). A power cut loses at most the last checkpoint_s of charge time and
energy, which the customer then gets unbilled. A boot counter (`next_boot()`) gives
session ids that never repeat across reboots.

Record (plain JSON; `record()` builds one, `restore_session()` reads the session back):

    {"v": 1, "boot": 7, "state": "charging", "lock": null, "resume": null,
     "session": {"sid", "auth", "limit": [kind, value], "order", "start", "not_before",
                 "charge_ms", "mwh", "peak_mw", "bill": [6 ints], "seq", "base_mwh",
                 "tariff": {prices} (only when the start command gave its own)}}

`session` is null when the port has none; `base_mwh` is the port meter's energy counter
when charge_ms/mwh were last brought up to date.

Flash wear (host_tests/test_flash_wear.py measures it on MicroPython's littlefs2 with
the ESP32 build's settings: 4096-byte blocks, 32-byte read/prog, 128-byte cache and
inline limit, block_cycles 100):
- a journal write (about 340 bytes for a session record) costs 1.07 block erases: a
  record above the inline limit takes a fresh data block each time, plus the metadata
  log's compactions. An outbox append costs 1.02. Over 30 000 writes on 128 blocks the
  most-worn block had 1.25 x the mean erases (the superblock pair moves on after ~50).
- Worst-case rate: 10 ports charging around the clock at checkpoint_s=60 make 14 400
  checkpoints/day; 60 sessions/day x 6 state changes add 360; the outbox about 350
  appends (4 per session, 50 alarms raised and cleared, compactions). About 15 100
  writes = 16 150 erases a day, 0.19 writes/s.
- A 4 MiB littlefs holds 1024 blocks, of which about 920 are free to rotate (littlefs
  levels over the blocks it rewrites; code and config stay put). At 100 000 cycles:
  920 x 1e5 / (16 150 x 1.25) = 4 560 days, about 12.5 years.
- In general: years = free_blocks x 1e5 / (erases_per_day x 1.25) / 365. MicroPython's
  stock ESP32 4 MiB partition table does NOT give 4 MiB of littlefs: 2 MiB in long-
  standing releases (about 410 free blocks: 5.6 years at 60 s, 10.7 years at
  checkpoint_s=120), 960 KiB in newer ones (factory 0x300000, vfs 0xF0000: about 2.4
  years at 60 s). Those need a bigger flash or partition, or a longer checkpoint_s.
  Real duty is below 10 ports around the clock: that stretches all these figures.
"""

from firmware.core.billing import Bill
from firmware.core.session import Session
from firmware.store import store

_VERSION = 1
_BOOT = "boot"
_DOUBT_SKIP = 100  # boot numbers skipped when the counter's copies are not all good
_SESSION_INTS = ("start", "not_before", "charge_ms", "mwh", "peak_mw", "seq", "base_mwh")
_LIMIT_KINDS = ("minutes", "wh", "fen", "full")


def record(state, lock=None, session=None, base_mwh=0, resume=None):
    """A journal record for one port; session is a port.Session or None."""
    s = None
    if session is not None:
        s = {"sid": session.sid, "auth": session.auth,
             "limit": [session.limit_kind, session.limit_value], "order": session.order,
             "start": session.start_epoch, "not_before": session.not_before,
             "charge_ms": session.charge_ms, "mwh": session.mwh,
             "peak_mw": session.peak_mw, "bill": list(session.bill.state()),
             "seq": session.seq, "base_mwh": base_mwh}
        if session.tariff is not None:
            s["tariff"] = session.tariff
    return {"v": _VERSION, "state": state, "lock": lock, "resume": resume, "session": s}


def restore_session(rec, p, tariff):
    """Port p's Session from a checked record (None without one), its bill restored."""
    r = rec.get("session")
    if r is None:
        return None
    bill = Bill(tariff)
    bill.restore(tuple(r["bill"]))
    s = Session(r["sid"], p, r["auth"], r["limit"][0], r["limit"][1], r["order"],
                r["start"], bill)
    s.not_before = r["not_before"]
    s.charge_ms = r["charge_ms"]
    s.mwh = r["mwh"]
    s.peak_mw = r["peak_mw"]
    s.seq = r["seq"]
    s.tariff = r.get("tariff")
    return s


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check(rec):
    """None when rec is a usable journal record, else what is wrong with it."""
    if not isinstance(rec, dict) or rec.get("v") != _VERSION:
        return "not a version %d record" % _VERSION
    if not isinstance(rec.get("state"), str):
        return "no state"
    s = rec.get("session")
    if s is None:
        return None
    if not isinstance(s, dict):
        return "bad session"
    for k in _SESSION_INTS:
        if not _is_int(s.get(k)) or s[k] < 0:
            return "session.%s: not an int >= 0" % k
    if not isinstance(s.get("sid"), str) or not isinstance(s.get("auth"), str):
        return "session: sid/auth missing"
    lim = s.get("limit")
    if (not isinstance(lim, list) or len(lim) != 2 or lim[0] not in _LIMIT_KINDS
            or not _is_int(lim[1])):
        return "session.limit: bad"
    if not isinstance(s.get("tariff", {}), dict):
        return "session.tariff: not an object"
    bill = s.get("bill")
    if not isinstance(bill, list) or len(bill) != 6 or not all(_is_int(v) and v >= 0
                                                                for v in bill):
        return "session.bill: needs 6 ints >= 0"
    return None


class Journal:
    """Port records and the boot counter in directory d; clock gives ticks_ms/ticks_diff."""

    def __init__(self, d, ports, clock, checkpoint_s=60):
        self.d = d
        self.n = ports
        self.clock = clock
        self.interval_ms = checkpoint_s * 1000
        self.last_ms = [None] * ports  # ticks of each port's last save
        self.boot = 0
        self.boot_problem = None  # what next_boot() found wrong, for an alarm
        self.writes = 0
        self.bytes_written = 0

    def _write(self, name, obj):
        self.bytes_written += store.write(self.d, name, obj)
        self.writes += 1

    def save(self, p, rec):
        """Write port p's record (durable on return); stamped with the boot number."""
        rec["boot"] = self.boot
        self._write("port%d" % p, rec)
        self.last_ms[p] = self.clock.ticks_ms()

    def due(self, p, now_ms, charging):
        """True when a charging port's last save is checkpoint_s old (or never was)."""
        if not charging:
            return False
        last = self.last_ms[p]
        if last is None:
            return True
        dt = self.clock.ticks_diff(now_ms, last)
        return dt >= self.interval_ms or dt < 0  # < 0: ticks wrapped past half a period

    def load(self):
        """([record or None per port], [problem strings]) from flash."""
        recs = []
        problems = []
        for p in range(self.n):
            rec, problem = store.read(self.d, "port%d" % p)
            if problem:
                problems.append(problem)
            if rec is not None:
                bad = check(rec)
                if bad:
                    problems.append("port%d: %s" % (p, bad))
                    rec = None
            recs.append(rec)
        return recs, problems

    def next_boot(self):
        """This boot's number: greater than any returned before, power cuts included.

        The new number is durable before it is returned, so a cut during the write can
        only lose a number nobody used. When a copy of the counter is bad, the lost copy
        may have held one more than the good one: skip ahead, past the boot numbers the
        port records were stamped with too.
        """
        rec, problem = store.read(self.d, _BOOT)
        n = 0
        if isinstance(rec, dict) and _is_int(rec.get("boot")):
            n = rec["boot"]
        elif rec is not None:
            problem = problem or "boot: bad record"
        if problem or n == 0:
            seen = 0
            for p in range(self.n):
                r, _ = store.read(self.d, "port%d" % p)
                if isinstance(r, dict) and _is_int(r.get("boot")) and r["boot"] > seen:
                    seen = r["boot"]
            if problem or seen:
                n = max(n, seen) + _DOUBT_SKIP
        n += 1
        self.boot_problem = problem
        self._write(_BOOT, {"boot": n})
        self.boot = n
        return n
