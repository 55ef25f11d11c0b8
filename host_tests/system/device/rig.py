# The virtual cabinet board the boot.py / main.py tests run on (unix port): the fake
# machine reset, a 74HC595 chain driving ten relay contacts, ten HLW8032 emulators (180 W
# while their relay is closed) behind the RX mux on the configured pins, and the smoke
# input idle. host_tests/system/test_main_*.py put this rig before each test's own code
# (mpy.device_code). Virtual-board code like tools/sim: ruff checks it, pyright cannot
# follow the fake `machine` first on the path.
# ruff: noqa: E402 - the virtual lwIP replaces socket before anything imports it
import sys

import vsocket

sys.modules["socket"] = vsocket  # the virtual board's lwIP: DNS and NTP on virtual time
import machine
from hlw8032_emu import HLW8032Emu
from relay_model import HC595Chain, Relay
from rxmux import RxMux
from vclock import CLOCK  # noqa: F401 - the tests' code after the rig drives it

from firmware.system.config import DEFAULT_PINS as P

machine.reset_board()
chain = HC595Chain(2, P["relay_latch"], data_id=P["relay_data"], clk_id=P["relay_clock"],
                   oe_id=P["relay_oe"], power_on=0xFFFF)
contacts = [Relay() for _ in range(10)]
for i in range(10):
    chain.wire(i, contacts[i])
emus = []
for p in range(10):
    r = contacts[p]
    emus.append(HLW8032Emu(volts=230.0, phase_us=p * 4999, seed=p + 1,
                           load=lambda t, r=r: (230.0, 0.8, 180.0) if r.closed()
                           else (230.0, 0.0, 0.0)))
select = [machine.Pin(g, machine.Pin.OUT, value=0) for g in P["mux_select"]]
uart = machine.UART(P["meter_uarts"][0], baudrate=4800, bits=8, parity=0, stop=1,
                    tx=P["meter_tx"][0], rx=P["meter_rx"][0], rxbuf=256)
RxMux(select, emus, uart)
machine.Pin.drive(P["smoke"], 1)
