# Shared set-up for the HLW8032 dual tests: a cabinet of emulated meters behind RX
# multiplexers on fake UARTs, and the scanner that reads them.

import machine
from hlw8032_emu import HLW8032Emu
from rxmux import RxMux
from vclock import CLOCK

from drivers.meterscan import MeterScanner

SELECT = (25, 26, 27, 14)  # S0..S3 of the 74HC4067s (shared by both)
UART_IDS = (1, 2)


def phase_of(p, seed=0):
    # meters are not frame-aligned with each other: a pseudo-random phase per port
    x = 12345 + seed
    for _ in range(p + 1):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return (x >> 8) % 55000


def cabinet(ports=10, uarts=1, volts=230.0, amps=4.0, pf=0.95, seed=0, **scan_kw):
    """(scanner, emulators, uarts, muxes) for a fresh virtual board."""
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
    us = [machine.UART(UART_IDS[i], baudrate=4800, bits=8, parity=0, stop=1, tx=(17, 4)[i],
                       rx=(16, 12)[i], rxbuf=256)
          for i in range(uarts)]
    emus = [HLW8032Emu(volts=volts, amps=amps, pf=pf, phase_us=phase_of(p, seed), seed=p + 1)
            for p in range(ports)]
    muxes = []
    for u in range(uarts):
        mine = [emus[p] for p in range(u, ports, uarts)]
        muxes.append(RxMux(SELECT, mine, us[u]))
    sc = MeterScanner(us, pins, ports, CLOCK, **scan_kw)
    return sc, emus, us, muxes


def run(sc, ms, tick_ms=10):
    """Poll the scanner every tick for `ms` of virtual time."""
    for _ in range(ms // tick_ms):
        CLOCK.advance_ms(tick_ms)
        sc.poll()
