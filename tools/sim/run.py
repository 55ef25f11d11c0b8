# Scenario simulator: the real firmware core on the virtual board, on virtual time.
#
#   .venv/bin/micropython tools/sim/run.py SCENARIO.json [--broker HOST:PORT] [--log FILE]
#                                [--state DIR] [--speed N] [--tick MS]
#                                [--fidelity model|bytes] [--screens DIR]
#                                [--panel-idle-ms MS]
#
# Writes the JSON-lines event log (ARCHITECTURE.md "Simulator (contract)") to FILE or
# stdout; a wrap of the 2**30 ms ticks is logged as {"ev": "ticks_wrap"}. With
# --panel-idle-ms the front panel is stepped every MS of virtual time while nobody uses
# it (every tick for a minute after a swipe or key): soaks run ~2x faster. Runs as fast
# as possible unless --speed N (virtual seconds per wall second).
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_root = _here + "/../.."
for _p in (_root + "/lib", _root, _here):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import machine  # noqa: E402
import png  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import simlink  # noqa: E402
import vsocket  # noqa: E402
from board import VirtualBoard  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.link.dns import Resolver  # noqa: E402
from firmware.link.netif import Ntp  # noqa: E402
from firmware.panel import panel as _panel  # noqa: E402, F401 (code up front, as frozen)
from firmware.system import assemble  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402

# The virtual network around the cabinet (tools/sim/vsocket.py): the DHCP-given DNS
# server, the NTP server's name and where it resolves to.
DNS_SERVER = "192.168.4.1"
NTP_HOST = "ntp.sim"
NTP_IP = "203.0.113.123"
_NOT_CRASHES = (machine.PWRON_RESET, machine.SOFT_RESET, machine.DEEPSLEEP_RESET)
_CAUSES = {machine.PWRON_RESET: "power_on", machine.HARD_RESET: "hard",
           machine.WDT_RESET: "watchdog", machine.SOFT_RESET: "soft"}

USAGE = ("usage: .venv/bin/micropython tools/sim/run.py SCENARIO.json [--broker HOST:PORT] "
         "[--log FILE] [--state DIR] [--speed N] [--tick MS] [--fidelity model|bytes] "
         "[--screens DIR] [--panel-idle-ms MS]")
PANEL_BUSY_US = 60000000  # after a swipe or a key: the panel runs every tick this long


class UsageError(Exception):
    pass


def parse_args(argv):
    opts = {"scenario": None, "broker": None, "log": None, "state": None, "speed": None,
            "screens": None, "panel-idle-ms": None,
            "tick": None, "fidelity": "model"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            key = a[2:]
            if key not in opts or key == "scenario":
                raise UsageError("unknown option %s" % a)
            if i + 1 >= len(argv):
                raise UsageError("option %s needs a value" % a)
            opts[key] = argv[i + 1]
            i += 2
        else:
            if opts["scenario"] is not None:
                raise UsageError("more than one scenario file: %s" % a)
            opts["scenario"] = a
            i += 1
    if opts["scenario"] is None:
        raise UsageError("no scenario file")
    if opts["fidelity"] not in ("model", "bytes"):
        raise UsageError("--fidelity: %r is not model or bytes" % opts["fidelity"])
    for key in ("speed", "tick", "panel-idle-ms"):
        if opts[key] is not None:
            try:
                opts[key] = float(opts[key])
            except ValueError:
                raise UsageError("--%s: %r is not a number" % (key, opts[key]))
            if opts[key] <= 0:
                raise UsageError("--%s: %r must be above 0" % (key, opts[key]))
    return opts


class Log:
    def __init__(self, out):
        self.out = out
        self.counts = {}

    def __call__(self, ev):
        ev["t"] = round(CLOCK.us / 1000000, 3)  # virtual seconds since the start
        self.counts[ev["ev"]] = self.counts.get(ev["ev"], 0) + 1
        self.out.write(json.dumps(ev))
        self.out.write("\n")


class Sim:
    """One scenario run. Also used directly by tests and benchmarks."""

    def __init__(self, sc, out, state_dir=None, tick_ms=None, seed=1, fidelity="model",
                 boot=True, panel=True):
        self.sc = sc
        CLOCK.start(sc.start_epoch)
        vsocket.reset()
        vsocket.WORLD.names[NTP_HOST] = NTP_IP
        machine.RESET_CAUSE[0] = machine.PWRON_RESET
        raw = dict(sc.config)
        raw["ports"] = sc.ports
        raw["meter"] = sc.meter
        self.cfg, problems = config_mod.validate(raw)
        if problems:
            raise scenario_mod.ScenarioError("cabinet.config: " + "; ".join(problems))
        self.log = Log(out)
        self.board = VirtualBoard(sc.ports, sc.meter, seed=seed, fidelity=fidelity,
                                  silent_ms=int(self.cfg["meter_silent_s"] * 1000))
        self.tick_ms = int(tick_ms or self.board.tick_ms)
        self.own_state = state_dir is None
        self.state_dir = state_dir or "/tmp/ebike-sim-%08x" % random.getrandbits(32)
        _makedirs(self.state_dir)
        self.with_panel = panel  # the front panel (reader, keypad, OLED) runs too
        self.before_tick = None  # called between the world's step and the firmware's tick
        self.screens = None  # --screens DIR
        self.seen_frames = {}
        self.pushes = -1
        # --panel-idle-ms: with nobody at the panel, step it only this often (soaks)
        self.panel_idle_us = 0
        self.panel_next_us = 0
        self.panel_busy_us = 0
        self.cabinet = None  # the firmware running now (assemble.Cabinet)
        self.link = None  # simlink.attach: the broker side
        self.app = self.boot() if boot else None
        self.next_event = 0

    def boot(self):
        """Start the firmware from the state directory, as the device boots: through the
        one assembly (firmware/system/assemble.py) that main.py uses, so `config`
        overrides, the boot guard and the wall clock are the device's; NTP through the
        non-blocking resolver, on the virtual network (vsocket.py). Returns the app."""
        cause = machine.reset_cause()
        cab = assemble.build(self.cfg, self.board, self.state_dir, self.log,
                             crashed=cause not in _NOT_CRASHES,
                             power_up=cause == machine.PWRON_RESET, set_rtc=_set_rtc,
                             panel=self.with_panel)
        self.cabinet = cab
        self.outbox = cab.outbox
        self.wall = cab.wall
        self.panel = cab.panel
        self.log({"ev": "boot", "cause": _CAUSES.get(cause, cause), "crashes": cab.crashes,
                  "safe_mode": cab.why})
        resolver = Resolver(DNS_SERVER, CLOCK, sock_mod=vsocket).lookup
        self.ntp = Ntp(resolver, CLOCK, cab.wall.set, host=NTP_HOST, sock_mod=vsocket)
        self.last_ticks = CLOCK.ticks_ms()  # a wrap is logged as {"ev": "ticks_wrap"}
        return cab.app

    def capture(self):
        """--screens: each distinct OLED frame, as the panel shows it, to a PNG."""
        img = bytes(self.board.oled.image())
        if img in self.seen_frames:
            return
        self.seen_frames[img] = True
        screen = self.panel.display._screen if self.panel.display else "none"
        gc.collect()  # a 512x256 PNG needs a few contiguous 16 KB buffers
        png.write("%s/%04d_%s_t%d.png" % (self.screens, len(self.seen_frames), screen,
                                          CLOCK.us // 1000000), img, 128, 64, scale=4)

    def power_cut(self, duration_s):
        """Mains off: the controller dies, the world goes on, then it boots again with
        its ticks restarted and its RTC at 2000-01-01 (no battery), as a power-on reset."""
        self.log({"ev": "power", "on": False})
        self.board.power_off()
        self.app = self.cabinet = None
        end_us = CLOCK.us + int(duration_s * 1000000)
        while CLOCK.us < end_us:
            self.board.step(min(1000, (end_us - CLOCK.us + 999) // 1000))
        CLOCK.power_up()
        machine.RESET_CAUSE[0] = machine.PWRON_RESET
        self.board.power_on()
        self.log({"ev": "power", "on": True})
        self.app = self.boot()

    def reboot(self):
        """The `reboot` command honoured, as main.py does: offline status, relays off, the
        boot guard told (Cabinet.prepare_reset); machine.reset() keeps the RTC running."""
        self.log({"ev": "reboot"})
        self.cabinet.prepare_reset()
        self.board.power_off()  # the GPIOs reset: every relay drops
        machine.RESET_CAUSE[0] = machine.HARD_RESET
        self.board.power_on()
        self.app = self.boot()

    def power_cuts(self, cut):
        """A `power_cut` event: one cut, or `repeat` cuts starting `every_s` apart (a grid
        recloser's burst of power-ups); the firmware runs between them."""
        repeat = cut.get("repeat", 1)
        every_us = int(cut.get("every_s", 0) * 1000000)
        t0 = CLOCK.us
        for i in range(repeat):
            if i:
                self.run_until_us(t0 + i * every_us)
            self.power_cut(cut["duration_s"])

    def run_until_us(self, end_us):
        """Run the firmware (ticks, NTP, delivery) until end_us, no scenario events."""
        while CLOCK.us < end_us:
            self.board.step(self.tick_ms)
            self.step_firmware()

    def deliver(self):
        """No broker: records leave the outbox straight into the log (as if acked)."""
        self.cabinet.drain(self.log)

    def close(self):
        if self.own_state:
            _rmtree(self.state_dir)

    def apply(self, ev):
        b = self.board
        p = ev.get("port")
        if "plug" in ev:
            b.plug(p, ev["plug"])
        elif "unplug" in ev:
            b.unplug(p)
        elif "fault" in ev:
            b.fault(p, ev["fault"])
        elif "temp" in ev:
            if "fault" in ev["temp"]:  # the cabinet NTC unplugged / shorted / back
                b.set_sensor_fault(ev["temp"]["sensor"], ev["temp"]["fault"])
            else:
                b.set_temp(ev["temp"]["sensor"], ev["temp"]["c"], ev["temp"].get("port"))
        elif "smoke" in ev:
            b.set_smoke(ev["smoke"])
        elif "door" in ev:
            b.set_door(ev["door"])
        elif "power_cut" in ev:
            self.power_cuts(ev["power_cut"])
        elif "dns" in ev:  # no DNS answer in [t, t + stall_s): vsocket.py
            stall_us = int(ev["dns"]["stall_s"] * 1000000)
            vsocket.WORLD.stall(CLOCK.us, CLOCK.us + stall_us)
            self.log({"ev": "dns", "stall_s": ev["dns"]["stall_s"]})
        elif "cmd" in ev:  # signed with the cabinet key, as a server would (simlink.py)
            simlink.command(self, ev)
        elif "broker" in ev:
            simlink.broker(self, ev["broker"])
        elif "swipe" in ev:
            # The card is held to the virtual reader; with a port, the resident also
            # types it on the keypad and confirms (the whole resident flow runs).
            sw = ev["swipe"]
            b.swipe(sw["card"])
            self.panel_busy_us = CLOCK.us + PANEL_BUSY_US
            if sw.get("port") is not None:
                b.keys("%d##" % (sw["port"] + 1), after_ms=1500)
        elif "keys" in ev:
            b.keys(ev["keys"])
            self.panel_busy_us = CLOCK.us + PANEL_BUSY_US
        else:
            raise scenario_mod.ScenarioError(
                "event %d: %s is not supported by this simulator yet"
                % (self.next_event, [k for k in ev if k != "t"]))

    def run(self, until_s=None, speed=None):
        end_us = int((self.sc.duration_s if until_s is None else until_s) * 1000000)
        events = self.sc.events
        wall0 = time.ticks_ms() if speed else None  # --speed: MicroPython only
        while CLOCK.us < end_us:
            while (self.next_event < len(events)
                   and events[self.next_event]["t"] * 1000000 <= CLOCK.us):
                self.apply(events[self.next_event])
                self.next_event += 1
            self.board.step(self.tick_ms)
            ticks = CLOCK.ticks_ms()
            if ticks < self.last_ticks:
                self.log({"ev": "ticks_wrap", "ticks_ms": ticks})
            self.last_ticks = ticks
            if self.before_tick is not None:
                self.before_tick()
            self.step_firmware(speed, wall0)
        return self

    def step_firmware(self, speed=None, wall0=None):
        """One main-loop pass of the firmware, as main.run: control tick, panel and cloud
        timers, NTP, link."""
        cab = self.cabinet
        cab.control()
        cab.ran(self.tick_ms)
        panel = self.panel
        cab.service(panel is not None and self._panel_due())
        if self.screens and panel is not None:
            d = panel.display
            if d is not None and d.pushes != self.pushes and not d.busy():
                self.pushes = d.pushes  # the panel finished showing something new
                self.capture()
        self.ntp.step()
        link = self.link
        if link is not None:
            link.step()
        elif self.outbox.count:
            self.deliver()
        if cab.reboot_due():
            self.reboot()
        if speed:
            self._pace(wall0, speed)

    def _panel_due(self):
        us = CLOCK.us
        if not self.panel_idle_us or us < self.panel_busy_us or us >= self.panel_next_us:
            self.panel_next_us = us + self.panel_idle_us
            return True
        return False

    def _pace(self, wall0, speed):
        ahead_ms = CLOCK.us / 1000 / speed - time.ticks_diff(time.ticks_ms(), wall0)
        if ahead_ms > 1:
            time.sleep_ms(int(ahead_ms))


def main(argv):
    try:
        opts = parse_args(argv)
        sc = scenario_mod.load(open(opts["scenario"]).read())
    except (UsageError, OSError) as e:
        sys.stderr.write("run.py: %s\n%s\n" % (e, USAGE))
        return 2
    except scenario_mod.ScenarioError as e:
        sys.stderr.write("run.py: %s: %s\n" % (opts["scenario"], e))
        return 2
    broker = None
    if opts["broker"]:
        try:
            broker = simlink.parse_broker(opts["broker"])
        except ValueError as e:
            sys.stderr.write("run.py: %s\n%s\n" % (e, USAGE))
            return 2
    out = open(opts["log"], "w") if opts["log"] else sys.stdout
    sim = None
    try:
        sim = Sim(sc, out, opts["state"], opts["tick"], fidelity=opts["fidelity"])
        if opts["panel-idle-ms"]:
            sim.panel_idle_us = int(opts["panel-idle-ms"] * 1000)
        if opts["screens"]:
            _makedirs(opts["screens"])
            sim.screens = opts["screens"]
        if broker is not None:
            simlink.attach(sim, broker[0], broker[1], speed=opts["speed"])
        sim.run(speed=opts["speed"])
        simlink.finish(sim)
    except scenario_mod.ScenarioError as e:
        sys.stderr.write("run.py: %s: %s\n" % (opts["scenario"], e))
        return 2
    finally:
        if sim is not None:
            sim.close()
        if out is not sys.stdout:
            out.close()
    return 0


def _set_rtc(unix_s, ms=0):
    CLOCK.epoch0 = unix_s - CLOCK.us // 1000000  # the virtual cabinet's RTC


def _makedirs(path):
    done = ""
    for part in path.split("/"):
        done = done + "/" + part if done or path.startswith("/") else part
        if part:
            try:
                os.mkdir(done)
            except OSError:
                pass


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = path + "/" + name
        try:
            os.remove(full)
        except OSError:
            _rmtree(full)
    try:
        os.rmdir(path)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
