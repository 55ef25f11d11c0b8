"""`make sim`: the product on its embedded defaults, live.

Starts a local MQTT broker (mosquitto when installed, else the pure-Python amqtt that
`make setup` installs) on a free loopback port, runs the firmware on the MicroPython unix
port with the default 10-port day (tools/sim/scenarios/demo_day.json) against it at a
watchable speed, and shows the staff monitor as the live dashboard (ports, power,
session timers, bills, alarms, the day's events, link state). Ctrl-C (or q in the dashboard) stops
everything it started.

    python tools/demo.py [--speed N|max] [--headless] [--scenario FILE]

--headless prints the day's records and alarms as text lines instead of the dashboard
(used by the tests and for a terminal without a UI).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv", "bin")
DEFAULT_SCENARIO = os.path.join(ROOT, "tools", "sim", "scenarios", "demo_day.json")
DEFAULT_SPEED = "120"  # a 24 h day in 12 minutes
WAIT_S = 15  # bound on waiting for the broker to listen


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("demo: the broker exited at start (code %s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("demo: the broker did not listen on 127.0.0.1:%d within %d s"
                     % (port, WAIT_S))


def start_broker(workdir):
    port = free_port()
    mosq = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                         if os.path.exists("/usr/sbin/mosquitto") else None)
    if mosq:
        conf = os.path.join(workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
        cmd, name = [mosq, "-c", conf], "mosquitto"
    else:
        conf = os.path.join(workdir, "amqtt.yaml")
        with open(conf, "w") as f:
            f.write("listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:%d\n" % port)
        cmd, name = [os.path.join(VENV, "amqtt"), "-c", conf], "amqtt (pure Python)"
    log = open(os.path.join(workdir, "broker.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_listening(port, proc)
    return proc, port, name


def start_firmware(scenario, port, speed, workdir):
    cmd = [os.path.join(VENV, "micropython"), "tools/sim/run.py", scenario,
           "--broker", "127.0.0.1:%d" % port, "--log", os.path.join(workdir, "events.jsonl"),
           "--state", os.path.join(workdir, "flash")]
    if speed != "max":
        cmd += ["--speed", speed]
    err = open(os.path.join(workdir, "firmware.err"), "w")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                            start_new_session=True)


def headless(port, firmware):
    """Print what a duty room would see, until the firmware's day is over."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    def on_message(client, userdata, msg):
        kind = msg.topic.rsplit("/", 1)[-1]
        if kind in ("event", "alarm", "status"):
            try:
                p = json.loads(msg.payload)
            except ValueError:
                return
            print("%-7s %s" % (kind, json.dumps(p, sort_keys=True)), flush=True)

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-headless")
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.subscribe("+/+/#", qos=1)
    c.loop_start()
    try:
        while firmware.poll() is None:
            time.sleep(0.2)
    finally:
        c.loop_stop()
        c.disconnect()


def stop(procs):
    for p in procs:
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    for p in procs:
        if p is None:
            continue
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description="the simulated cabinet, live")
    ap.add_argument("--speed", default=os.environ.get("SPEED") or DEFAULT_SPEED,
                    help="virtual seconds per wall second, or max (default %s)" % DEFAULT_SPEED)
    ap.add_argument("--scenario", default=DEFAULT_SCENARIO)
    ap.add_argument("--headless", action="store_true")
    a = ap.parse_args(argv)
    if a.speed != "max":
        try:
            if float(a.speed) <= 0:
                raise ValueError
        except ValueError:
            ap.error("--speed/SPEED: %r is not a number above 0 or max" % a.speed)
    if not os.path.exists(a.scenario):
        ap.error("--scenario: %s does not exist" % a.scenario)
    # Ctrl-C and a polite kill both stop everything, even where the shell that started
    # us ignores SIGINT (a background job's children inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = tempfile.mkdtemp(prefix="ebike-demo-")
    broker = firmware = None
    try:
        broker, port, name = start_broker(workdir)
        print("demo: broker %s on 127.0.0.1:%d; firmware on the MicroPython unix port at "
              "speed %s; files in %s" % (name, port, a.speed, workdir), flush=True)
        firmware = start_firmware(a.scenario, port, a.speed, workdir)
        if a.headless:
            headless(port, firmware)
        else:
            from tools.monitor.__main__ import main as monitor_main

            monitor_main(["--broker", "127.0.0.1:%d" % port])
        if firmware.poll() not in (None, 0):
            print(open(os.path.join(workdir, "firmware.err")).read()[-2000:], file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        stop([firmware, broker])
        print("demo: stopped broker and firmware; event log was %s/events.jsonl" % workdir)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
