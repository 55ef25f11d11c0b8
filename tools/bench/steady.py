# The steady-state control tick as the device runs it for weeks (MicroPython and CPython).
#
#   app, tick = build()        # then call tick() (one 50 ms control tick) as often as needed
#
# Shared by tools/bench/bench_control.py (heap bytes per tick on the unix port) and
# tools/bench/smallint.py (every int the hot path touches stays below 2**30, the ESP32's
# small-int bound; run by host_tests/core/test_small_ints.py and make bench). The set-up:
# - 10 ports, the real HLW8032 driver (drivers/meterscan.py, drivers/hlw8032.py) reading
#   replayed 4800 8E1 frames (a zero-allocation UART stand-in), relays and sensors from
#   tools/bench/benchboard.py; no persistence (record building is not the hot path);
# - a cabinet up for 21 days (ticks have wrapped), every meter's energy and pulse counter
#   1-2 Wh short of 2**30 (about 1073 kWh: a busy port's year or two), so they wrap in
#   the first 20 s of the run;
# - wall clock in July 2026, a time-of-use tariff, 5 s before a half-hour slot change;
# - 9 sessions charging for 3 hours, one deferred to the off-peak hour.
import machine
from benchboard import Relays, _Count
from hlw8032_emu import ReplayUart, make_frame
from vclock import CLOCK

from drivers import board as contract
from drivers.meterscan import MeterScanner
from firmware.core.app import App
from firmware.system import config as config_mod

PORTS = 10
UP_DAYS = 21
SLOT_CHANGE = 1782901800  # 2026-07-01 10:30:00 UTC (18:30 in China): a TOU slot starts
TICK_MS = 50
WRAP_MASK = 0x3FFFFFFF
SELECT = (25, 26, 27, 14)
# Peak 17:00-22:00 local, valley 23:00-07:00, flat otherwise (fen per kWh).
TOU = [31] * 14 + [62] * 20 + [98] * 10 + [62] * 2 + [31] * 2


def _stream(amps, frames=400):
    b = bytearray()
    for k in range(frames):
        b.extend(make_frame(221.0, amps, pf=0.95, pf_total=k * 2 if amps else 0))
    return b


class RelayUart:
    """One meter UART behind the RX mux: the selected port's chip sends load frames when
    its relay is closed, no-load frames when open. Zero allocation (ReplayUart)."""

    def __init__(self, relays):
        self.relays = relays
        self.on = ReplayUart(_stream(0.82))
        self.off = ReplayUart(_stream(0.0))
        self.scanner = None  # type: MeterScanner | None

    def _src(self):
        s = self.scanner
        return self.on if s is not None and self.relays.cmd[s._step] else self.off

    def any(self):
        return self._src().any()

    def readinto(self, buf, n=-1):
        return self._src().readinto(buf, n)


class SteadyBoard(contract.Board):
    def __init__(self, n):
        contract.Board.__init__(self)
        machine.reset_board()
        self.clock = CLOCK
        self.relays = Relays(n)
        select = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
        uart = RelayUart(self.relays)
        self.meters = MeterScanner([uart], select, n, CLOCK)
        uart.scanner = self.meters
        self.sensors = contract.NoPortSensors()


def _run(app, ms):
    for _ in range(ms // TICK_MS):
        CLOCK.us += TICK_MS * 1000
        app.tick()


def build(ports=PORTS):
    CLOCK.us = UP_DAYS * 86400 * 1000000
    CLOCK.epoch0 = SLOT_CHANGE - 3600 - CLOCK.us // 1000000
    board = SteadyBoard(ports)
    m = board.meters
    for _ in range(100):  # every port has read a frame
        CLOCK.us += TICK_MS * 1000
        m.poll()
    cfg, problems = config_mod.validate({"ports": ports, "tou_fen_per_kwh": TOU,
                                         "offpeak_hour": 23})
    assert not problems, problems
    app = App(board, cfg, _Count())
    for p in range(ports - 1):
        assert app.start(p, "remote", {"full": True}) is None
    assert app.start(ports - 1, "remote", {"full": True}, offpeak=True) is None
    _run(app, 30000)  # boot hold, staggered relay closings, sessions settle
    for p in range(ports - 1):
        port = app.ports[p]
        s = port.session
        assert port.relay_on and s is not None, "port %d: %s %s" % (p, port.state, app.alarms)
        s.charge_ms += 3 * 3600 * 1000  # three hours into the session
        s.mwh += 480000
        s.bill.add_energy(480000)
    for p in range(ports):  # counters a second or two short of the wrap: months charging
        e = m._energy[p]
        e.mwh = WRAP_MASK - 200 - 150 * p
        e.pulses = WRAP_MASK - 2000 - 1500 * p
        m.energy_mwh[p] = app.ports[p].last_e = e.mwh
        m.pulses[p] = e.pulses
        app.ports[p].judge.reset(e.mwh)
        app.ports[p].judge.loaded = app.ports[p].relay_on
    assert app.ports[ports - 1].state == "deferred"
    CLOCK.epoch0 += SLOT_CHANGE - 5 - CLOCK.time()  # the RTC: 5 s before the slot change

    def tick():
        CLOCK.us += TICK_MS * 1000
        app.tick()

    return app, tick
