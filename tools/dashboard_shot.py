"""The staff dashboard for the README: docs/screens/dashboard.svg and dashboard.png.

    python tools/dashboard_shot.py [--out DIR] [--at SECONDS]      (make dashboard-shot)

What `make sim` shows, frozen at one moment and drawn headless. Everything in it is real:
the local broker of tools/demo.py (mosquitto when installed, else the pure-Python amqtt),
the staff monitor (tools/monitor) connected to it and run by Textual's `run_test()`, and
the firmware on the MicroPython unix port playing the default day
(tools/sim/scenarios/demo_day.json, cut short after the moment) as fast as it goes.

The firmware's first telemetry at or after --at virtual seconds (default 5500, 01:32 into
the day: three ports charging, port 5 locked after an overload trip with its critical
alarm unacknowledged, a heater's alarms on port 6 cleared, port 4 done at its energy
limit; the event feed lists those sessions' starts and ends) freezes the simulator
(SIGSTOP) the moment it reaches the broker; the next message is two virtual minutes
away, so the picture does not depend on the machine's speed. Once the monitor shows
that telemetry, Textual's SVG export is written and cairosvg renders the PNG. Alarm and
event times are shown in the cabinet's default time zone (tz_offset_h); the monitor's
own link events carry the machine's clock, not the simulated day's. Every wait is
bounded; the broker and the firmware are stopped whatever happens.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import demo  # noqa: E402

SCENARIO = demo.DEFAULT_SCENARIO
DEFAULT_OUT = os.path.join(ROOT, "docs", "screens")
DEFAULT_AT = 5500  # virtual s into the day
SIZE = (132, 34)  # terminal columns, rows: the ports, and 8 rows each of alarms and events
CONNECT_S = 10  # bound on the monitor and the trigger connecting to the broker
REACH_S = 90  # bound on the firmware reaching the moment
SHOW_S = 10  # bound on the monitor showing the frozen state
TAIL_S = 600  # the scenario runs this long past the moment, in case it is missed


class Failed(Exception):
    pass


def cabinet_tz():
    """TZ for the cabinet's default UTC offset (firmware/system/config.py tz_offset_h)."""
    from firmware.system.config import SCHEMA

    off = SCHEMA["tz_offset_h"][1]
    minutes = int(round(abs(off) * 60))
    return "UTC%s%d:%02d" % ("-" if off >= 0 else "+", minutes // 60, minutes % 60)


def write_scenario(path, at):
    """The default day, ending TAIL_S after the moment (a missed trigger ends it soon)."""
    with open(SCENARIO) as f:
        sc = json.load(f)
    sc["duration_s"] = min(sc["duration_s"], at + TAIL_S)
    sc["events"] = [e for e in sc["events"] if e["t"] < sc["duration_s"]]
    with open(path, "w") as f:
        json.dump(sc, f)
    return sc["start_epoch"]


class Trigger:
    """A paho client of its own: freezes the firmware when the moment's telemetry passes."""

    def __init__(self, port, epoch):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.epoch = epoch
        self.at_epoch = None
        self.proc = None
        self.frozen = None  # the telemetry the firmware was frozen after
        self.fired = threading.Event()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dashboard-shot")
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("+/+/telemetry", qos=1)
        self.c.loop_start()
        if not self.subscribed.wait(CONNECT_S):
            raise Failed("the trigger could not subscribe within %d s" % CONNECT_S)

    def arm(self, proc, at):
        self.at_epoch = self.epoch + at
        self.proc = proc

    def _on_message(self, client, userdata, msg):
        if self.fired.is_set() or self.proc is None:
            return
        try:
            tel = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(tel.get("t"), int) and tel["t"] >= self.at_epoch:
            try:
                os.killpg(self.proc.pid, signal.SIGSTOP)  # in paho's thread: no delay
            except OSError:
                return
            self.frozen = (msg.topic, tel)
            self.fired.set()

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def shows(model, topic, tel):
    """Has the monitor's model taken in this telemetry?"""
    c = model.cabinets.get(topic.rsplit("/", 1)[0])
    if c is None:
        return False
    for e in tel["ports"]:
        p = c.ports.get(e["p"])
        if p is None or any(getattr(p, dst) != e[src] for src, dst in (
                ("s", "state"), ("w", "w"), ("wh", "wh"), ("fen", "fen"), ("el", "el"))
                if src in e):
            return False
    return True


async def capture(app, start, trigger):
    """Run the monitor headless, start the firmware, return the SVG of the frozen moment."""
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + CONNECT_S
        while app.link_state != "connected":
            if time.monotonic() > deadline:
                raise Failed("the monitor did not connect within %d s (%s)"
                             % (CONNECT_S, app.link_state))
            await pilot.pause(0.05)
        proc = start()
        deadline = time.monotonic() + REACH_S
        while not trigger.fired.is_set():
            if proc.poll() is not None:
                raise Failed("the firmware exited (code %s) before the moment"
                             % proc.returncode)
            if time.monotonic() > deadline:
                raise Failed("the firmware did not reach the moment within %d s" % REACH_S)
            await pilot.pause(0.05)
        topic, tel = trigger.frozen
        deadline = time.monotonic() + SHOW_S
        while not shows(app.model, topic, tel):
            if time.monotonic() > deadline:
                raise Failed("the monitor did not show the frozen telemetry within %d s"
                             % SHOW_S)
            await pilot.pause(0.05)
        await pilot.pause(2 * app.refresh_s)  # a redraw or two after the last message
        app._draw()
        await pilot.pause()
        return app.export_screenshot(), tel


MONO = "font-family: Fira Code, monospace;"


def write_png(svg, path):
    """The PNG from the SVG. cairosvg hands a CSS font list to fontconfig as one family
    name, which falls back to a proportional face; the raster gets the generic monospace
    face (the SVG keeps Textual's Fira Code for browsers)."""
    import cairosvg

    if MONO not in svg:
        print("dashboard_shot: Textual's SVG no longer sets %r: check the PNG's font" % MONO,
              file=sys.stderr)
    svg = svg.replace(MONO, "font-family: monospace;")
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="the staff dashboard, headless, as SVG and PNG")
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="directory for dashboard.svg and dashboard.png (default docs/screens)")
    ap.add_argument("--at", type=int, default=DEFAULT_AT,
                    help="virtual seconds into the day to show (default %d)" % DEFAULT_AT)
    a = ap.parse_args(argv)
    if a.at <= 0:
        ap.error("--at: must be above 0")
    if not os.path.exists(os.path.join(demo.VENV, "micropython")):
        ap.error("no MicroPython unix port at .venv/bin/micropython: run make deps")
    os.environ["TZ"] = cabinet_tz()
    time.tzset()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a polite kill cleans up

    from tools.monitor.app import MonitorApp
    from tools.monitor.model import Model

    broker = firmware = trigger = None
    with tempfile.TemporaryDirectory(prefix="ebike-shot-") as workdir:
        try:
            scenario = os.path.join(workdir, "scenario.json")
            epoch = write_scenario(scenario, a.at)
            broker, port, name = demo.start_broker(workdir)
            trigger = Trigger(port, epoch)

            def start():
                nonlocal firmware
                firmware = demo.start_firmware(scenario, port, "max", workdir)
                trigger.arm(firmware, a.at)
                return firmware

            app = MonitorApp(Model("ebike", "*"), ("127.0.0.1", port))
            svg, tel = asyncio.run(capture(app, start, trigger))
        except Failed as e:
            err = os.path.join(workdir, "firmware.err")
            tail = open(err).read()[-2000:] if os.path.exists(err) else ""
            print("dashboard_shot: %s\n%s" % (e, tail), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            if trigger is not None:
                trigger.close()
            if firmware is not None and firmware.poll() is None:
                os.killpg(firmware.pid, signal.SIGKILL)  # it may be stopped: no SIGTERM
            demo.stop([firmware, broker])
    os.makedirs(a.out, exist_ok=True)
    svg_path = os.path.join(a.out, "dashboard.svg")
    png_path = os.path.join(a.out, "dashboard.png")
    with open(svg_path, "w", encoding="utf-8") as f:
        f.write(svg)
    write_png(svg, png_path)
    t = tel["t"] - epoch
    print("dashboard_shot: broker %s; firmware frozen at %d:%02d:%02d into the day; wrote %s "
          "and %s" % (name, t // 3600, t // 60 % 60, t % 60, os.path.relpath(svg_path),
                      os.path.relpath(png_path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
