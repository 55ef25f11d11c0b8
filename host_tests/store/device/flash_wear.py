# The device side of host_tests/store/test_flash_wear.py, run by the MicroPython unix port:
# the real journal and outbox on os.VfsLfs2 over a RAM block device that counts erases.
# argv: ROUNDS (checkpoint rounds of 10 ports) and PAIRS (outbox put+ack pairs). Prints
# "J writes erases bytes_per_write" and "O writes erases".
import os
import sys

from firmware.core.billing import Bill, Tariff
from firmware.core.session import Session
from firmware.store.journal import Journal, record
from firmware.store.outbox import Outbox

ROUNDS = int(sys.argv[1])
PAIRS = int(sys.argv[2])


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
# The unix port's os has VfsLfs2 (the ESP32 stubs put it in vfs only).
os.VfsLfs2.mkfs(dev)  # pyright: ignore[reportAttributeAccessIssue]
os.mount(os.VfsLfs2(dev), "/flash")  # pyright: ignore[reportAttributeAccessIssue]
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
