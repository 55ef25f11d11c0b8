# Flash writes per hour with 10 ports charging (journal checkpoints + state changes +
# outbox), measured by running the real core with its real journal and outbox on a
# directory for one virtual hour. Prints `name value unit` lines.
#   .venv/bin/micropython tools/bench/bench_flash.py
import sys

sys.path[:0] = ["tools/bench", "tools/sim", ".", "lib"]

import os  # noqa: E402

from benchboard import Board, _Count  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.system import assemble  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402


def _tick(cab):
    CLOCK.advance_ms(250)
    cab.control()
    cab.ran(250)
    cab.service()


def main():
    d = "/tmp/bench-flash-%d" % (CLOCK.us % 100000)
    try:
        os.mkdir(d)
    except OSError:
        pass
    cfg, _ = config_mod.validate({"ports": 10})
    cab = assemble.build(cfg, Board(10), d, _Count())  # as main.py, on the bench board
    app = cab.app
    j = cab.persist.journal
    ob = cab.outbox
    for p in range(10):
        app.start(p, "remote", {"full": True})
    for _ in range(4 * 60):  # the first minute: starts, staggered closings
        _tick(cab)
    w0, b0, o0 = j.writes, j.bytes_written, ob.writes
    for _ in range(4 * 3600):  # one hour of 10 ports charging
        _tick(cab)
    writes = j.writes - w0 + ob.writes - o0
    print("flash_writes_per_h_10_charging %d writes" % writes)
    print("flash_bytes_per_h_10_charging %d bytes" % (j.bytes_written - b0))
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)


main()
