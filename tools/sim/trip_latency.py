# Worst-case time from a short circuit appearing to the relay opening (MicroPython).
#
#   .venv/bin/micropython tools/sim/trip_latency.py [RUNS_PER_PORT] [PORTS] [METER]
#
# A cabinet of PORTS ports (default 10) runs at byte fidelity: real HLW8032 frames at
# 4800 8E1 (or METER bl0942: request/reply packets at 4800 8N1) through the mux into the
# real meter scanner. Every port charges; a 40 A
# short appears on one port at a pseudo-random moment; the time until that port's
# relay coil opens is measured. Prints one line per run and a summary with the sweep.
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
for _p in (_here + "/../../lib", _here + "/../..", _here):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import scenario as scenario_mod  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402


class _Null:
    def write(self, s):
        pass


def one(port, ports, fault_at_ms, seed, meter="hlw8032"):
    events = []
    for p in range(ports):
        events.append({"t": 1, "port": p, "plug": {"model": "lithium_48v_4a", "soc": 0.3}})
        events.append({"t": 2, "cmd": {"op": "start", "port": p, "limit": {"full": True}}})
    sc = scenario_mod.load({"cabinet": {"ports": ports, "meter": meter}, "duration_s": 60,
                           "events": events})
    sim = Sim(sc, _Null(), seed=seed, fidelity="bytes")
    sim.run(until_s=fault_at_ms / 1000)
    t0 = CLOCK.us
    sim.board.fault(port, "short")
    relays = sim.board.relays
    while relays.get(port) and CLOCK.us - t0 < 5000000:
        sim.board.step(sim.tick_ms)
        sim.app.tick()
    return (CLOCK.us - t0) / 1000, sim.board.meters.sweep_ms


def main(argv):
    runs = int(argv[0]) if argv else 3
    ports = int(argv[1]) if len(argv) > 1 else 10
    meter = argv[2] if len(argv) > 2 else "hlw8032"
    worst = 0
    total = 0
    n = 0
    sweeps = []
    for p in range(ports):
        for r in range(runs):
            at = 20000 + (p * 7919 + r * 3331) % 1500  # every phase of the sweep
            ms, sweep = one(p, ports, at, seed=1 + r, meter=meter)
            sweeps.append(sweep)
            print("port %d fault_at %d ms -> relay open after %.0f ms (sweep %d ms)"
                  % (p, at, ms, sweep))
            worst = max(worst, ms)
            total += ms
            n += 1
    print("trip_latency_worst_ms %.0f ms" % worst)
    print("trip_latency_mean_ms %.0f ms" % (total / n))
    print("meter_sweep_ms %.0f ms" % (sum(sweeps) / len(sweeps)))


if __name__ == "__main__":
    main(sys.argv[1:])
