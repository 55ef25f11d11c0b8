# The device half of a split simulation: the firmware core alone in its own MicroPython
# VM, talking to the world (tools/sim/splitday.py) over stdin/stdout, one line per tick.
#
#   micropython -X heapsize=N devicevm.py STATE_DIR      (code from a .mpy tree)
#
# Only firmware modules and the virtual clock are imported here: no machine fake, no
# chargers, no scenario. So the heap holds what the controller holds (its code, which the
# ESP32 keeps frozen in flash, and its data), and a heap limit is a limit on the firmware.
# The cabinet sensors' drivers (NTC, debounced smoke input) run here on the world's raw
# ADC microvolts and pin level; the meters arrive as the scanner's readings.
#
# Messages, world -> device: a 5-digit decimal length, then that many bytes of text (two
# reads per message: stdin has no buffering here). Ints in decimal, fields separated by
# one space:
#   H <us> <epoch>                 first: the virtual clock; then the config, one JSON line
#   T <us> <uv> <smoke_pin> <garbage mask> <port_c10 csv or -> [p,mv,ma,mw,mwh,seen_ms ...]
#                                  a tick: the clock, the NTC's microvolts, the smoke input's
#                                  level, the meters sending garbage, the port temperatures
#                                  (x10, empty when none), the ports read since the last
#                                  tick; the device ticks and answers R
#   X <jws>                        a signed command, handled as received (reply logged)
#   Q                              finish: the device answers S and exits
# Lines, device -> world:
#   READY <bytes>                  code loaded (live heap after the imports)
#   E <us> <json>                  an event of the firmware's log (records once acked),
#                                  at the controller's time
#   R <relay mask> <us>            after each tick: the relays, and the clock (the time the
#                                  controller spent, e.g. on ADC reads, moves the world on)
#   S <json>                       the figures at the end: heap peak, ticks, flash writes
# A power cut is the world killing this process: RAM is lost, the next one boots from
# STATE_DIR as the device does.
import gc
import json
import sys

from vclock import CLOCK

from drivers.inputs import Debounced
from drivers.ntc import NTC
from firmware.core.app import App
from firmware.protocol.cloud import Cloud
from firmware.store.journal import Journal
from firmware.store.outbox import Outbox
from firmware.store.persist import Persist
from firmware.system import config as config_mod

SAMPLE_MS = 60000  # live heap sampled (after a collection) every virtual minute


class WireMeters:
    """The meter scanner's readings, as the world's last lines gave them."""

    def __init__(self, n, silent_ms):
        now = CLOCK.ticks_ms()
        self.mv = [0] * n
        self.ma = [0] * n
        self.mw = [0] * n
        self.energy_mwh = [0] * n
        self.frames = [0] * n
        self.seen_ms = [now] * n
        self.bad = [False] * n
        self.silent_ms = silent_ms

    def poll(self):
        pass  # the tick line brought the readings

    def update(self, field):
        v = field.split(",")
        p = int(v[0])
        self.mv[p] = int(v[1])
        self.ma[p] = int(v[2])
        self.mw[p] = int(v[3])
        self.energy_mwh[p] = int(v[4])
        self.seen_ms[p] = int(v[5])
        self.frames[p] += 1

    def age_ms(self, p):
        return CLOCK.ticks_diff(CLOCK.ticks_ms(), self.seen_ms[p])

    def silent(self, p):
        return self.age_ms(p) >= self.silent_ms

    def garbage(self, p):
        return self.bad[p]


class WireRelays:
    def __init__(self, n):
        self.n = n
        self.mask = 0

    def set(self, i, on):
        if not 0 <= i < self.n:
            raise IndexError("relay index")
        self.mask = self.mask | (1 << i) if on else self.mask & ~(1 << i)

    def get(self, i):
        return bool((self.mask >> i) & 1)

    def all_off(self):
        self.mask = 0


class WireADC:
    SAMPLE_US = 40  # what a read costs, as the machine fake's ADC counts it
    uv = 0

    def read_uv(self):
        CLOCK.us += self.SAMPLE_US
        return self.uv


class WirePin:
    level = 1

    def value(self):
        return self.level


class WireSensors:
    def __init__(self, n):
        self.adc = WireADC()
        self.ntc = NTC(self.adc)
        self.pin = WirePin()
        self.smoke_in = Debounced(self.pin, CLOCK, 50, active_low=True)
        self.port_c = [None] * n

    def cabinet_c10(self):
        c10, fault = self.ntc.read()
        return None if fault else c10

    def port_c10(self, p):
        return self.port_c[p]

    def smoke(self):
        self.smoke_in.update()
        return self.smoke_in.active

    def door_open(self):
        return False  # the wire protocol carries no door switch


class WireBoard:
    def __init__(self, n, silent_ms):
        self.clock = CLOCK
        self.meters = WireMeters(n, silent_ms)
        self.relays = WireRelays(n)
        self.sensors = WireSensors(n)


class Device:
    def __init__(self, state_dir, cfg, out):
        self.out = out
        self.board = WireBoard(cfg["ports"], int(cfg["meter_silent_s"] * 1000))
        journal = Journal(state_dir, cfg["ports"], CLOCK, cfg["checkpoint_s"])
        self.outbox = Outbox(state_dir, prefix=cfg["cabinet_id"] + "-")
        self.app = App(self.board, cfg, self.log, Persist(journal, self.outbox))
        self.cloud = Cloud(self.app, state_dir, self.outbox, set_time=self._set_time)
        self.ticks = 0
        self.peak = 0
        self.next_sample_us = 0

    def _set_time(self, now):
        CLOCK.epoch0 = now - CLOCK.us // 1000000

    def log(self, ev):
        self.out.write("E %d " % CLOCK.us)
        self.out.write(json.dumps(ev))
        self.out.write("\n")

    def tick(self, fields):
        CLOCK.us = int(fields[1])
        sens = self.board.sensors
        sens.adc.uv = int(fields[2])
        sens.pin.level = int(fields[3])
        meters = self.board.meters
        bad = int(fields[4])
        for p in range(len(meters.bad)):
            meters.bad[p] = bool((bad >> p) & 1)
        pc = sens.port_c
        if fields[5] == "-":
            for p in range(len(pc)):
                pc[p] = None
        else:
            for p, v in enumerate(fields[5].split(",")):
                pc[p] = None if v == "" else int(v)
        for i in range(6, len(fields)):
            meters.update(fields[i])
        self.app.tick()
        self.deliver()
        self.ticks += 1
        if CLOCK.us >= self.next_sample_us:
            self.next_sample_us = CLOCK.us + SAMPLE_MS * 1000
            self.sample()
        self.out.write("R %d %d\n" % (self.board.relays.mask, CLOCK.us))

    def deliver(self):
        """No broker: records leave the outbox as if acked, into the log (as Sim does)."""
        ob = self.outbox
        rec = ob.peek()
        while rec is not None:
            rid, kind, payload = rec
            self.log({"ev": "record", "kind": kind, "payload": json.loads(payload)})
            ob.ack(rid)
            rec = ob.peek()

    def command(self, token):
        r = self.cloud.on_command(token.encode())
        out = dict(r)
        out["ev"] = "reply"
        self.log(out)

    def sample(self):
        gc.collect()
        live = gc.mem_alloc()
        if live > self.peak:
            self.peak = live

    def summary(self):
        self.sample()
        p = self.app.persist
        return {"ticks": self.ticks, "heap_peak": self.peak, "heap_total": gc.mem_alloc()
                + gc.mem_free(), "journal_writes": p.journal.writes,
                "outbox_writes": p.outbox.writes, "modules": sorted(sys.modules)}


def main():
    state_dir = sys.argv[1]
    out = sys.stdout
    gc.collect()
    out.write("READY %d\n" % gc.mem_alloc())
    inp = sys.stdin.buffer

    def message():
        head = inp.read(5)
        if not head:
            return ""
        return inp.read(int(head)).decode()

    hello = message().split()
    if not hello or hello[0] != "H":
        raise ValueError("devicevm: first line must be H <us> <epoch>, got %r" % hello)
    CLOCK.us = int(hello[1])
    CLOCK.epoch0 = int(hello[2])
    cfg, problems = config_mod.validate(json.loads(message()))
    if problems:
        raise ValueError("devicevm: config: " + "; ".join(problems))
    dev = Device(state_dir, cfg, out)
    while True:
        line = message()
        if not line:
            return  # the world went away
        op = line[0]
        if op == "T":
            dev.tick(line.split())
        elif op == "X":
            dev.command(line[2:])
        elif op == "Q":
            out.write("S %s\n" % json.dumps(dev.summary()))
            return
        else:
            raise ValueError("devicevm: unknown line %r" % line[:20])


main()
