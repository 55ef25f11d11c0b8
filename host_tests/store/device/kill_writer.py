# The writer host_tests/store/test_persistence_kill.py SIGKILLs (unix port, after
# mpy.PRELUDE): journal boots, store records and outbox puts and acks in a loop, a line
# printed after each call returns. argv: state dir, last record number, the flash
# operation to cut at ("N", or "Nt" for a torn write; tools/sim/flashcut.py).
# pyright: reportMissingImports=false
# (flashcut lives in tools/sim, on the unix port's path, not in pyright's)
import sys

from flashcut import FlashCut

from firmware.store import outbox, store
from firmware.store.journal import Journal
from firmware.store.outbox import Outbox

d = sys.argv[1]
i = int(sys.argv[2])
FlashCut(int(sys.argv[3].rstrip("t")), sys.argv[3].endswith("t")).install(store, outbox)
print("B %d" % Journal(d, 1, None).next_boot())
ob = Outbox(d, max_bytes=16384)
print("O %d" % ob.pending)
while True:
    i += 1
    store.write(d, "rec", {"i": i, "pad": "x" * (i % 60)})
    print("W %d" % i)
    print("P %s %d" % (ob.put("session_end", {"i": i, "pad": "y" * (i % 40)}), i))
    target = 5 if (i // 60) % 2 else 45  # bursts of acks: the log compacts often
    while ob.pending > target:
        rid = ob.peek()[0]
        print("K " + rid)
        ob.ack(rid)
        print("A " + rid)
