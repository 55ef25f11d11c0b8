"""`make bench`: every benchmark on the MicroPython unix port, one table of figures.

Each bench script prints `name value unit` lines; this runs them and prints each figure
beside its target. The heap budget of the controller comes from bench_device.py: the 24 h
day with the firmware alone in a VM of its own, on code + 64 KiB. CPython host tool.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv", "bin")
MICROPYTHON = os.path.join(VENV, "micropython")
SCRIPTS = ("tools/bench/bench_hlw.py", "tools/bench/bench_control.py",
           "tools/bench/bench_day.py", "tools/bench/bench_device.py",
           "tools/bench/bench_flash.py", "tools/bench/bench_mqtt.py",
           "tools/bench/smallint.py", "tools/bench/bench_uptime.py")
SCRIPTS += ("tools/bench/bench_panel.py",)
# CPython host scripts: bench_mqtt starts mosquitto and runs the simulator against it;
# bench_device runs the world here and the firmware in a unix-port VM of its own.
HOST_SCRIPTS = ("tools/bench/bench_mqtt.py", "tools/bench/bench_device.py",
                "tools/bench/smallint.py", "tools/bench/bench_uptime.py")
TARGETS = {
    "hlw_frames_per_s": ">= 1000 (10 meters x 18 frames/s on the wire)",
    "hlw_heap_bytes_per_frame": "0",
    "naive_hlw_frames_per_s": "(baseline, slice + decode(): faster on a clean stream ...)",
    "naive_hlw_heap_bytes_per_frame": "(... but this much garbage per frame, ~180 frames/s)",
    "hlw_poll_heap_bytes": "0",
    "hlw_sweep_ms_1_uart": "~1000 ms (FIELD_FACTS: ~1 s on one UART)",
    "hlw_sweep_ms_2_uarts": "~500 ms",
    "control_us_per_port_tick": "<= 100 us",
    "control_heap_bytes_per_tick": "0",
    "control_heap_bytes_per_tick_2026": "0 (real HLW8032 driver, TOU, 2026, counters wrapping)",
    "control_hot_ints_over_2e30": "0 (that tick's ints >= 2**30: long ints on the ESP32)",
    "control_hot_ints_checked": "(ints looked at by smallint.py's trace of 400 ticks)",
    "uptime_30d_wall": "(tools/sim/uptime.py: 30 virtual days, ticks wrap 3 times)",
    "uptime_30d_sessions_right": "5 of 5 (start <= 15 s, time_limit, exact charge_s)",
    "busy_day_24h_10port_wall": "<= 60 s (control core, model meters)",
    "busy_day_with_panel_wall": "(reader, keypad and OLED models too)",
    "busy_day_heap_data_peak": "(world + firmware data in one VM; device_* below)",
    "device_code_heap_bytes": "(frozen in flash on the ESP32; in the heap here)",
    "device_day_in_64k_data": "completes: heap = code + 64 KiB, 30 sessions end",
    "device_day_data_peak_bytes": "< 65536 (firmware data, 64-bit VM)",
    "device_day_min_data_kib": "<= 64 KiB above the code",
    "device_day_min_heapsize_kib": "(code + that: the smallest -X heapsize here)",
    "device_day_wall": "(world on CPython, firmware VM, one pipe per tick)",
    "trip_latency_worst_ms": "<= one meter sweep",
    "flash_writes_per_h_10_charging": "<= 900/h (>= 10 years on 4 MiB littlefs)",
    "mqtt_bytes_per_day": "<= 300000 bytes",
    "i2c_bus_hz": "<= 100000 (PCF8574 datasheet maximum)",
    "oled_page_push_us": "page + key-down scan < 20 ms tick (one page per tick)",
    "oled_whole_show_us": "(ssd1306 show(), which the firmware never calls in the loop)",
    "keypad_scan_us_idle": "(one scan per tick, PCF8574 over I2C)",
    "keypad_scan_us_key_down": "(a full scan while a key is held)",
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


# The soak (docs/soak.md, CPython): run.py + mosquitto for 8 virtual days, the size
# `make test` runs (SOAK_DAYS=30 for make test-full's).
SCRIPTS += ("tools/bench/bench_soak.py",)
HOST_SCRIPTS += ("tools/bench/bench_soak.py",)
TARGETS.update({
    "soak_wall": "(the make test soak; SOAK_DAYS=30 for make test-full's)",
    "soak_speed": "(virtual s per wall s, run.py + mosquitto)",
    "soak_duplicates": "(at-least-once: allowed on the wire, de-duplicated by id)",
    "soak_ticks_wraps": ">= 4 in 30 days (issue 11)",
    "soak_worst_start": "<= 15 s from command to relay",
    "soak_failures": "0",
})


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
    print("%-36s %14s  %-10s %s" % ("figure", "value", "unit", "target"))
    print("-" * 110)
    for name, value, unit in rows:
        print("%-36s %14s  %-10s %s" % (name, value, unit, TARGETS.get(name, "")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
