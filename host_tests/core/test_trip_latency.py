"""Short circuit to relay open, over every port of a 10-port cabinet, at byte fidelity.

Runs tools/sim/trip_latency.py on the MicroPython unix port: real HLW8032 frames at
4800 8E1 through the RX mux into the real scanner and the real core. The target is one
meter sweep: the scanner visits each port once per sweep (0.55-1.2 s on one UART, 0.88 s
on average), and the first frame that shows the short trips the port.
"""

import subprocess

from conftest import FULL
from mpy import MICROPYTHON, ROOT


def test_short_circuit_opens_the_relay_within_one_sweep():
    runs = "12" if FULL else "3"
    p = subprocess.run([MICROPYTHON, "tools/sim/trip_latency.py", runs, "10"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    figs = dict(line.split()[:2] for line in p.stdout.splitlines()
                if line.startswith(("trip", "meter")))
    worst, sweep = float(figs["trip_latency_worst_ms"]), float(figs["meter_sweep_ms"])
    print(p.stdout.splitlines()[-3:])
    assert len([ln for ln in p.stdout.splitlines() if ln.startswith("port ")]) == 10 * int(runs)
    assert 500 <= sweep <= 1000, sweep  # ~0.9 s for 10 ports on one UART
    assert worst <= 1200, worst  # the longest single sweep (FIELD_FACTS: ~1 s on one UART)
