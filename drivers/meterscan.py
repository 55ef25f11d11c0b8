# N HLW8032 meters on one or two UARTs behind 74HC4067 receive-line multiplexers.
#
# Wiring: each UART's RX comes from the common pin of its own 74HC4067; the select lines
# S0..S3 are shared by both multiplexers (four GPIOs in total, not eight). Port p is on
# UART p % len(uarts), multiplexer channel p // len(uarts). With shared select lines the
# two UARTs visit channels in lock-step: the step moves on once both have a frame (or
# timed out), which costs the slower of two frame phases per step, about 10 ms more
# than two independent sweeps would, in exchange for the four GPIOs.
#
# The HLW8032 streams frames back to back, so after a switch the receiver first sees the
# tail of a frame: a visit costs the rest of that frame plus one whole frame (55-110 ms,
# 82 ms on average), about 0.9 s for 10 ports on one UART, 0.5 s on two.

from micropython import const

from drivers.board import Meters
from drivers.hlw8032 import (
    I_MA,
    P_MW,
    P_PARAM,
    PF_CARRY,
    PF_COUNT,
    V_MV,
    PulseEnergy,
    StreamReader,
)

_FRAME_MS = const(55)  # 24 bytes of 11 bits at 4800 baud
_VISIT_MS = const(3 * _FRAME_MS + 5)  # a dead meter must not stall the sweep
_RX_LEN = const(64)  # read chunk; a 10-20 ms tick brings 5-9 bytes
_MAX_READS = const(8)  # bounded reads per poll (an rxbuf of 256+ bytes at most)
_AGE_CAP_MS = const(1 << 28)  # ages saturate here (3.1 days), below the ticks wrap


class MeterScanner(Meters):
    """Non-blocking sweep over HLW8032 meters; call poll() every control tick.

    uarts: one machine.UART or a list of one or two, each at 4800 baud, bits=8,
    parity=0 (even), stop=1, rxbuf >= 256. select_pins: machine.Pin outputs, S0 first.
    clock: ticks_ms / ticks_diff / ticks_add (the `time` module on the device).

    Per port (lists of ints, preallocated): mv, ma, mw, pulses, energy_mwh (monotonic,
    wrapping at 2**30),
    seen_ms (ticks of the last good frame; construction time before the first one),
    frames (good frames; a change means a new reading), checksum_errors, abnormal
    (frames in state 0xAA or with a coefficient fault), jumps (rejected energy jumps),
    misses (visits that timed out). sweep_ms is the duration of the last full sweep
    (0 until one has completed), sweeps the number completed.
    """

    def __init__(self, uarts, select_pins, ports, clock, kv=1.88, ki=1.0, silent_ms=3000,
                 visit_ms=_VISIT_MS, max_w=5000):
        if not isinstance(uarts, (list, tuple)):
            uarts = (uarts,)
        nu = len(uarts)
        if nu < 1 or ports < 1:
            raise ValueError("need a UART and a port")
        self.uarts = tuple(uarts)  # type: tuple
        self.pins = tuple(select_pins)
        self._nu = nu
        self._steps = (ports + nu - 1) // nu
        if self._steps > (1 << len(self.pins)):
            n = len(self.pins)
            raise ValueError(f"{n} select pins cannot reach {self._steps} channels")
        self.ports = ports
        self.clock = clock
        self.silent_ms = silent_ms
        self.visit_ms = visit_ms
        now = clock.ticks_ms()
        self.mv = [0] * ports
        self.ma = [0] * ports
        self.mw = [0] * ports
        self.pulses = [0] * ports
        self.energy_mwh = [0] * ports
        self.seen_ms = [now] * ports
        self.frames = [0] * ports
        self.checksum_errors = [0] * ports
        self.abnormal = [0] * ports
        self.jumps = [0] * ports
        self.misses = [0] * ports
        self.sweep_ms = 0
        self.sweeps = 0
        self._energy = [PulseEnergy(kv, ki, max_w) for _ in range(ports)]
        self._readers = [StreamReader(kv, ki) for _ in range(nu)]
        self._rx = bytearray(_RX_LEN)
        self._done = bytearray(nu)
        self._step = 0
        self._visit_t0 = now
        self._sweep_t0 = now
        self._switch(0, now)

    def age_ms(self, p):
        """Milliseconds since port p's last good frame (or since construction)."""
        return self.clock.ticks_diff(self.clock.ticks_ms(), self.seen_ms[p])

    def silent(self, p):
        """True when port p has had no good frame for silent_ms."""
        return self.age_ms(p) >= self.silent_ms

    def poll(self):
        """Read what the UARTs hold, take at most one frame per UART; never blocks.

        Returns the number of ports that got a new reading in this call.
        """
        now = self.clock.ticks_ms()
        nu = self._nu
        done = self._done
        pending = 0
        got = 0
        for u in range(nu):
            if done[u]:
                continue
            p = self._step * nu + u
            if p >= self.ports:
                done[u] = 1
            elif self._read(u):
                self._take(p, self._readers[u].values, now)
                done[u] = 1
                got += 1
            elif self.clock.ticks_diff(now, self._visit_t0) >= self.visit_ms:
                self.misses[p] += 1
                done[u] = 1
            else:
                pending += 1
        if pending == 0:
            self._next(now)
        return got

    def _read(self, u):
        uart = self.uarts[u]
        rd = self._readers[u]
        rx = self._rx
        got = 0
        for _ in range(_MAX_READS):
            k = uart.any()
            if not k:
                break
            k = uart.readinto(rx, min(k, _RX_LEN))
            if not k:
                break
            got += rd.feed(rx, k)
        return got

    def _take(self, p, v, now):
        self.mv[p] = v[V_MV]
        self.ma[p] = v[I_MA]
        self.mw[p] = v[P_MW]
        e = self._energy[p]
        elapsed = self.clock.ticks_diff(now, self.seen_ms[p]) if self.frames[p] else -1
        if e.update(v[PF_COUNT], v[PF_CARRY], v[P_PARAM], elapsed) < 0:
            self.jumps[p] = e.jumps
        self.pulses[p] = e.pulses
        self.energy_mwh[p] = e.mwh
        self.seen_ms[p] = now
        self.frames[p] += 1

    def _next(self, now):
        nu = self._nu
        base = self._step * nu
        for u in range(nu):
            rd = self._readers[u]
            p = base + u
            if p < self.ports:
                self.checksum_errors[p] += rd.checksum_errors
                self.abnormal[p] += rd.abnormal
            rd.checksum_errors = 0
            rd.abnormal = 0
        step = self._step + 1
        if step >= self._steps:
            step = 0
            self.sweep_ms = self.clock.ticks_diff(now, self._sweep_t0)
            self._sweep_t0 = now
            self.sweeps += 1
            self._cap_ages(now)
        self._switch(step, now)

    def _switch(self, step, now):
        self._step = step
        pins = self.pins
        for i in range(len(pins)):
            pins[i].value((step >> i) & 1)
        # Bytes in the FIFOs came from the previous channel.
        rx = self._rx
        for u in range(self._nu):
            uart = self.uarts[u]
            for _ in range(_MAX_READS):
                k = uart.any()
                if not k or not uart.readinto(rx, min(k, _RX_LEN)):
                    break
            self._readers[u].reset()
            self._done[u] = 0
        self._visit_t0 = now

    def _cap_ages(self, now):
        # ticks_diff is only meaningful within 2**29 ms; keep old timestamps in range.
        for p in range(self.ports):
            if self.clock.ticks_diff(now, self.seen_ms[p]) > _AGE_CAP_MS:
                self.seen_ms[p] = self.clock.ticks_add(now, -_AGE_CAP_MS)
