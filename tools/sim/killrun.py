# One leg of the power-cut campaign (MicroPython):
#
#   .venv/bin/micropython tools/sim/killrun.py SCENARIO.json STATE_DIR LOG [CUT]
#
# Runs the scenario with the firmware's flash in STATE_DIR, appending the event log to
# LOG. Killed with SIGKILL at any moment and started again with the same arguments, it
# resumes: the world from STATE_DIR/world.json, the firmware from its journal (a power
# cut as the device sees it). CUT = N or Nt: the leg SIGKILLs itself at its Nth flash
# operation (a store or outbox write, rename or remove; flashcut.py), just before it, or
# with `t` halfway through that write. Prints "DONE <flash operations>" when the
# scenario has run to its end.
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
for _p in (_here + "/../../lib", _here + "/../..", _here):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import scenario as scenario_mod  # noqa: E402
import world  # noqa: E402
from flashcut import FlashCut  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.store import outbox, store  # noqa: E402


class Leg(Sim):
    def clock_us(self):
        return CLOCK.us

    def clock_epoch0(self):
        return CLOCK.epoch0

    def run_to_end(self, world_path):
        # The world is saved before every firmware tick: never older than the journal.
        self.before_tick = lambda: world.save(self, world_path)
        self.run()


class AppendLog:
    def __init__(self, path):
        self.f = open(path, "a")

    def write(self, s):
        self.f.write(s)
        if s == "\n":
            self.f.flush()


def main(argv):
    sc = scenario_mod.load(open(argv[0]).read())
    state = argv[1]
    world_path = state + "/world.json"
    spec = argv[3] if len(argv) > 3 else "0"
    cut = FlashCut(int(spec.rstrip("t")) or None, spec.endswith("t")).install(store, outbox)
    leg = Leg(sc, AppendLog(argv[2]), state_dir=state, boot=False, panel=False)
    w = world.load(world_path)
    if w is not None:
        world.restore(leg, w)
        leg.log({"ev": "power", "on": True})
    leg.app = leg.boot()
    print("BOOT %d" % cut.n)  # flash operations of the boot (journal restore, boot count)
    leg.run_to_end(world_path)
    print("DONE %d" % cut.n)


main(sys.argv[1:])
