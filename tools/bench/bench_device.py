"""The controller's heap over the 24 h busy day, with the firmware in a VM of its own.

    .venv/bin/python tools/bench/bench_device.py [--no-search]

tools/sim/splitday.py runs the world on CPython and the firmware core alone in a
MicroPython unix-port process on code compiled with mpy-cross (tools/sim/devicevm.py). The
figures:
- device_code_heap_bytes: the live heap once the firmware's modules are imported. On the
  ESP32 this bytecode is frozen in flash (manifest.py); here it has to sit in the heap.
- device_day_data_peak_bytes: the live heap above that, sampled after a collection every
  virtual minute of the day.
- device_day_in_64k_data: the day run with `-X heapsize=<code + 64 KiB>`: 30 sessions end
  or it FAILED.
- device_day_min_data_kib: the smallest such budget (to 4 KiB) the day completes in, and
  device_day_min_heapsize_kib the `-X heapsize` that makes with the code. The budget is
  larger than the sampled peak: a long day fragments the heap, and a journal write needs
  a few hundred contiguous bytes while its own temporaries are alive.
This 64-bit VM spends 8 bytes per pointer where the ESP32 spends 4, so every heap figure
here is an upper bound for the device. Prints `name value unit` lines. CPython host tool.
"""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sim"))

import splitday  # noqa: E402

SESSIONS = 30


def day(tree, heap_kib):
    """(summary, None) when the busy day completes on that heap, else (None, why)."""
    try:
        summary, counts, _ = splitday.run_split(splitday.load("busy_day"), tree, heap_kib)
    except splitday.DeviceDied as e:
        return None, str(e)
    ends = counts.get("session_end", 0)
    if ends != SESSIONS:
        return None, "%d sessions ended, not %d" % (ends, SESSIONS)
    return summary, None


def main():
    tree = splitday.build_tree(tempfile.mkdtemp(prefix="bench-devicevm-"))
    try:
        code = splitday.probe_code_bytes(tree)
        code_kib = -(-code // 1024)
        print("device_code_heap_bytes %d bytes" % code)
        t0 = time.time()
        summary, why = day(tree, code_kib + 64)
        wall = time.time() - t0
        print("device_day_in_64k_data %s (heap %d KiB)" % ("FAILED" if summary is None
                                                          else "completes", code_kib + 64))
        if summary is None:
            sys.stderr.write("busy day on code + 64 KiB: %s\n" % why)
            return 1
        print("device_day_data_peak_bytes %d bytes" % (summary["heap_peak"] - code))
        print("device_day_wall %.1f s" % wall)
        if "--no-search" in sys.argv:
            return 0
        lo, hi = 16, 64  # KiB of data: lo fails (checked below), hi completes
        if day(tree, code_kib + lo)[0] is not None:
            hi = lo
        while hi - lo > 4:
            mid = (lo + hi) // 2
            if day(tree, code_kib + mid)[0] is not None:
                hi = mid
            else:
                lo = mid
        print("device_day_min_data_kib %d KiB" % hi)
        print("device_day_min_heapsize_kib %d KiB" % (code_kib + hi))
        return 0
    finally:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
