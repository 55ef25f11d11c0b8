"""MQTT data per day for a 10-port cabinet with 30 sessions (target <= 300 KB/day).

    .venv/bin/python tools/bench/bench_mqtt.py [--keep LOG]

Measured, not computed: a simulated 24 h day runs the real firmware (tools/sim/run.py on
the MicroPython unix port) against a real mosquitto, with the uplink on the virtual clock
(SIM_LINK={"clock": "virtual"}) so keepalive pings, telemetry and records come at their
device rates. The figure is the uplink's own byte counters (tx_bytes + rx_bytes: every
MQTT packet the cabinet writes or reads, fixed headers, topics and payloads included;
TCP/IP and TLS framing not included, see docs/protocol.md for an estimate). Default
intervals: telemetry_s 60, telemetry_idle_s 900, keepalive 60 s. Prints `name value
unit` lines. CPython host tool.
"""

import getpass
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(ROOT, ".venv", "bin", "micropython"))
MOSQUITTO = "/usr/sbin/mosquitto"
MODELS = ("lead_acid_48v_20ah", "lithium_48v_4a", "lithium_handshake", "clocking_lithium")
LIMITS = ({"full": True}, {"minutes": 240}, {"wh": 300}, {"fen": 50})
SESSIONS = 30
PORTS = 10
DAY_S = 86400


def day_plan(sessions=SESSIONS, ports=PORTS):
    """30 sessions spread over the day, each port used three times, stays of 3-7 h."""
    events = []
    gap = (DAY_S - 6 * 3600) // sessions  # the last plug leaves a few hours to charge
    for i in range(sessions):
        t = 600 + i * gap
        p = i % ports
        stay = 3600 * (3 + (i * 7) % 5)
        events.append({"t": t, "port": p, "plug": {"model": MODELS[i % 4],
                                                   "soc": 0.1 + (i * 13 % 60) / 100}})
        events.append({"t": t + 20, "cmd": {"op": "start", "port": p, "limit": LIMITS[i % 4],
                                            "order": "ord-%06d" % i}})
        events.append({"t": min(t + stay, DAY_S - 30), "port": p, "unplug": True})
    events.sort(key=lambda e: e["t"])
    return {"cabinet": {"ports": ports, "meter": "hlw8032"}, "duration_s": DAY_S,
            "events": events}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto(d):
    port = free_port()
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_dest stderr\nlog_type error\nuser %s\n" % (port, getpass.getuser()))
    p = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit("mosquitto did not start")


def measure(keep=None):
    with tempfile.TemporaryDirectory() as d:
        scen = os.path.join(d, "day.json")
        log = keep or os.path.join(d, "log.jsonl")
        with open(scen, "w") as f:
            json.dump(day_plan(), f)
        broker, port = mosquitto(d)
        try:
            env = dict(os.environ, SIM_LINK=json.dumps({"clock": "virtual"}))
            t0 = time.time()
            r = subprocess.run([MICROPYTHON, "tools/sim/run.py", scen, "--broker",
                                "127.0.0.1:%d" % port, "--log", log], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=1800)
            wall = time.time() - t0
        finally:
            broker.terminate()
            broker.wait(10)
        if r.returncode:
            raise SystemExit("run.py failed: %s" % r.stderr[-2000:])
        with open(log) as f:
            events = [json.loads(line) for line in f if line.strip()]
    return events, wall


def figures(events, wall):
    stats = [e for e in events if e["ev"] == "link"][-1]["stats"]
    by = {}
    for e in events:
        if e["ev"] == "mqtt":
            kind = e["topic"].rsplit("/", 1)[1]
            n, b = by.get(kind, (0, 0))
            by[kind] = (n + 1, b + len(e["payload"].encode()))
    starts = sum(1 for e in events if e["ev"] == "session_start")
    total = stats["tx_bytes"] + stats["rx_bytes"]
    rows = [("mqtt_bytes_per_day", total, "bytes"),
            ("mqtt_tx_bytes_per_day", stats["tx_bytes"], "bytes"),
            ("mqtt_rx_bytes_per_day", stats["rx_bytes"], "bytes"),
            ("mqtt_sessions_per_day", starts, "sessions"),
            ("mqtt_connects_per_day", stats["connects"], "connects")]
    for kind in ("telemetry", "event", "alarm", "reply", "status"):
        n, b = by.get(kind, (0, 0))
        rows.append(("mqtt_%s_msgs_per_day" % kind, n, "messages"))
        rows.append(("mqtt_%s_payload_bytes_per_day" % kind, b, "bytes"))
    rows.append(("mqtt_day_sim_wall", round(wall, 1), "s"))
    return rows


def main(argv):
    keep = argv[argv.index("--keep") + 1] if "--keep" in argv else None
    events, wall = measure(keep)
    for name, value, unit in figures(events, wall):
        print("%s %s %s" % (name, value, unit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
