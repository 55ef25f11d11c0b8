"""Flash wear of the journal and the outbox, measured on MicroPython's own littlefs2.

The unix port has os.VfsLfs2, the same extmod code and defaults as the ESP32 build
(4096-byte blocks, 32-byte read/prog, cache 128, block_cycles 100). A RAM block device
counts block erases while the real modules write: checkpoints of 10 charging ports, and
outbox put+ack pairs. The figures back the flash-life statement in firmware/store/journal.py.
"""

from mpy import run_mpy

MEASURE = """
import os
from firmware.core.billing import Bill, Tariff
from firmware.store.journal import Journal, record
from firmware.store.outbox import Outbox
from firmware.core.session import Session

class RamFlash:
    # littlefs extended block-device interface; ioctl 6 erases a block
    def __init__(self, block_size, blocks):
        self.bs = block_size
        self.n = blocks
        self.data = bytearray(block_size * blocks)
        self.erases = 0
    def readblocks(self, b, buf, off=0):
        a = b * self.bs + off
        buf[:] = self.data[a:a + len(buf)]
    def writeblocks(self, b, buf, off=0):
        a = b * self.bs + off
        self.data[a:a + len(buf)] = buf
    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            self.erases += 1
            return 0

class Clock:
    def ticks_ms(self):
        return 0
    def ticks_diff(self, a, b):
        return a - b

dev = RamFlash(4096, 128)
os.VfsLfs2.mkfs(dev)
os.mount(os.VfsLfs2(dev), "/flash")
j = Journal("/flash", 10, Clock())
j.next_boot()
t = Tariff(52, 80)
ss = []
for p in range(10):
    s = Session("cab0001-%d-%d" % (j.boot, p + 1), p, "card:04A1B2C3", "minutes", 240,
                "order-2025112700%02d" % p, 1764201600, Bill(t))
    s.seq = 100001 + p
    ss.append(s)
e0 = dev.erases
w0 = j.writes
for r in range(ROUNDS):
    for p in range(10):
        s = ss[p]
        s.charge_ms += 60000
        s.mwh += 2500
        s.peak_mw = 183250 + r
        s.bill.add_energy(2500)
        j.save(p, record("charging", session=s, base_mwh=123456789 + r * 2500))
print("J", j.writes - w0, dev.erases - e0, j.bytes_written // j.writes)
ob = Outbox("/flash")
e0 = dev.erases
for k in range(PAIRS):
    rid = ob.put("session_end", {"sid": "cab0001-7-%d" % k, "port": k % 10, "start": 1764201600,
                 "end": 1764216000, "charge_s": 14312, "wh": 1512.3, "fen": 1996,
                 "reason": "full", "peak_w": 183, "auth": "card:04A1B2C3",
                 "order": "order-202511270012", "limit": {"minutes": 240}})
    ob.ack(rid)
print("O", ob.writes, dev.erases - e0)
"""

YEAR_DAYS = 365.25
CYCLES = 100000  # erase cycles per 4 KiB block (NOR flash of ESP32 modules)
SPREAD = 1.25  # most-worn / mean block erases, measured over 30 000 writes on 128 blocks


def _life_years(free_blocks, checkpoint_s, j_erase, o_erase):
    # 10 ports charging around the clock; 60 sessions/day with 6 state saves each; outbox
    # 4 appends per session + 50 alarms x 2 + compactions: about 350 appends a day.
    journal_writes = 10 * 86400 // checkpoint_s + 60 * 6
    erases_day = journal_writes * j_erase + 350 * o_erase
    return free_blocks * CYCLES / (erases_day * SPREAD) / YEAR_DAYS


def test_flash_life_is_ten_years_and_more_at_the_documented_rates():
    out = run_mpy("ROUNDS = 150\nPAIRS = 150\n" + MEASURE, heapsize="4M")
    lines = {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in out.splitlines()}
    j_writes, j_erases, j_bytes = lines["J"]
    o_writes, o_erases = lines["O"]
    j_erase = j_erases / j_writes
    o_erase = o_erases / o_writes
    print("journal: %d B/write, %.3f erases/write; outbox: %.3f erases/append"
          % (j_bytes, j_erase, o_erase))
    # a record above the 128-byte inline limit takes a fresh block each write, plus the
    # directory's metadata compactions: firmware/store/journal.py states 1.07
    assert 1.0 <= j_erase <= 1.1
    assert 1.0 <= o_erase <= 1.1
    assert 300 <= j_bytes <= 400
    life_4m = _life_years(920, 60, j_erase, o_erase)
    life_2m = _life_years(410, 60, j_erase, o_erase)
    life_2m_120 = _life_years(410, 120, j_erase, o_erase)
    print("life: 4 MiB %.1f y, 2 MiB %.1f y, 2 MiB at 120 s %.1f y"
          % (life_4m, life_2m, life_2m_120))
    assert life_4m >= 10
    assert life_2m < 10 <= life_2m_120  # why the docstring asks 120 s on a 2 MiB partition
