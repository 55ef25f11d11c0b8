# N meters on one or two UARTs behind 74HC4067 multiplexers: one chip type per cabinet.
#
# Wiring: each UART's RX comes from the common pin of its own 74HC4067; the select lines
# S0..S3 are shared by every multiplexer (four GPIOs in total). Port p is on UART
# p % len(uarts), multiplexer channel p // len(uarts). With shared select lines the UARTs
# visit channels in lock-step: the step moves on once each has a reading (or timed out).
# A chip that must be asked (BL0942) gets its UART's TX through a second 74HC4067 on the
# same select lines (docs/wiring.md); a chip that streams (HLW8032) needs no TX.
#
# The chip object (drivers/hlw8032.py Chip, drivers/bl0942.py Chip) is the seam:
#   request      bytes written at the start of each visit (None: the chip streams)
#   visit_ms     longest visit; no reading by then is a miss (never above 170 ms, so a
#                dead meter costs a sweep no more than it did with the HLW8032 alone)
#   reader()     a per-UART parser: feed(buf, n) -> good packets, reset(), values
#                (V_MV, I_MA, P_MW in slots 0-2), checksum_errors, abnormal counters
#   energy()     a per-port accumulator: take(values, elapsed_ms) -> counts or -1
#                (rejected jump), with pulses, mwh (wrapping at 2**30) and jumps
# HLW8032: a visit costs the rest of the frame on the wire plus one frame (55-110 ms),
# about 0.9 s for 10 ports on one UART. BL0942: request 4 ms + reply 48 ms, about 0.55 s
# for 10 ports (the control tick rounds each visit up to a tick).

from micropython import const

from drivers import hlw8032
from drivers.board import Meters

_RX_LEN = const(64)  # read chunk; a 10-20 ms tick brings 5-9 bytes
_MAX_READS = const(8)  # bounded reads per poll (an rxbuf of 256+ bytes at most)
_AGE_CAP_MS = const(1 << 28)  # ages saturate here (3.1 days), below the ticks wrap
_V_MV = const(0)  # reader value slots shared by every chip
_I_MA = const(1)
_P_MW = const(2)


class MeterScanner(Meters):
    """Non-blocking sweep over the meters; call poll() every control tick.

    uarts: one machine.UART or a list of one or two, at the chip's line settings
    (chip.line: baud, bits, parity, stop), rxbuf >= 256. select_pins: machine.Pin
    outputs, S0 first. clock: ticks_ms / ticks_diff / ticks_add (the `time` module on the
    device). chip: the meter type (default an HLW8032 with kv, ki).

    Per port (lists of ints, preallocated): mv, ma, mw, pulses, energy_mwh (monotonic,
    wrapping at 2**30),
    seen_ms (ticks of the last good frame; construction time before the first one),
    frames (good frames; a change means a new reading), checksum_errors, abnormal
    (frames in state 0xAA or with a coefficient fault), jumps (rejected energy jumps),
    misses (visits that timed out), noisy (visits that heard bytes but no good packet).
    sweep_ms is the duration of the last full sweep (0 until one has completed), sweeps
    the number completed. silent(p) and garbage(p) classify a port without readings.
    """

    def __init__(self, uarts, select_pins, ports, clock, kv=1.88, ki=1.0, silent_ms=3000,
                 visit_ms=None, max_w=5000, chip=None):
        if chip is None:
            chip = hlw8032.Chip(kv, ki, max_w)
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
        self.chip = chip
        self.visit_ms = chip.visit_ms if visit_ms is None else visit_ms
        self._request = chip.request
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
        self.noisy = [0] * ports
        self._garbled = bytearray(ports)  # the last visit heard bytes but no packet
        self.sweep_ms = 0
        self.sweeps = 0
        self._energy = [chip.energy() for _ in range(ports)]
        self._readers = [chip.reader() for _ in range(nu)]
        self._rx = bytearray(_RX_LEN)
        self._done = bytearray(nu)
        self._heard = [0] * nu  # bytes received in this visit
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

    def garbage(self, p):
        """True when port p is silent and its last visit heard bytes but no packet: a
        meter (or its wiring) sending noise, not a meter that is gone."""
        return self.silent(p) and self._garbled[p] == 1

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
                self._garbled[p] = 0
                done[u] = 1
                got += 1
            elif self.clock.ticks_diff(now, self._visit_t0) >= self.visit_ms:
                if self._heard[u]:
                    self.noisy[p] += 1
                    self._garbled[p] = 1
                else:
                    self.misses[p] += 1
                    self._garbled[p] = 0
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
            self._heard[u] += k
            got += rd.feed(rx, k)
        return got

    def _take(self, p, v, now):
        self.mv[p] = v[_V_MV]
        self.ma[p] = v[_I_MA]
        self.mw[p] = v[_P_MW]
        e = self._energy[p]
        elapsed = self.clock.ticks_diff(now, self.seen_ms[p]) if self.frames[p] else -1
        if e.take(v, elapsed) < 0:
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
            self._heard[u] = 0
            if self._request is not None and (step * self._nu + u) < self.ports:
                uart.write(self._request)  # a few bytes: the TX FIFO takes them at once
        self._visit_t0 = now

    def _cap_ages(self, now):
        # ticks_diff is only meaningful within 2**29 ms; keep old timestamps in range.
        for p in range(self.ports):
            if self.clock.ticks_diff(now, self.seen_ms[p]) > _AGE_CAP_MS:
                self.seen_ms[p] = self.clock.ticks_add(now, -_AGE_CAP_MS)
