# HLW8032 emulator for the virtual board (MicroPython unix port and CPython).
#
# Turns a load (volts, amps, watts) into the frames a real chip sends: cycle registers
# computed from the chip's factory parameters, overflow flags and "updated" bits, and a
# PF pulse counter that advances with the integrated energy (16-bit, with the bit-7
# toggle on every wrap). It is a UART source (see machine.UART): frames stream back to
# back at 4800 baud 8E1 from `phase_us`, and the chip's energy keeps integrating whether
# anybody listens or not. `pulses` and truth_mwh() are the exact truth for tests.
#
#   emu = HLW8032Emu(volts=230.0, amps=2.0, pf=0.95)
#   uart.source = emu            (or behind an rxmux.RxMux channel)
#   emu.set_load(amps=0.0)       later: no load, 0xF2 frames
#
# Fault knobs: silent (no bytes), garbage (random bytes at the byte rate), corrupt_p
# (probability a frame's checksum is wrong), drop_p (probability a byte is lost),
# coef_fault / uncalibrated (state 0xF1 / 0xAA), update_mask (clears updated bits).
# A UART whose line settings are not 4800/8/even/1 receives garbled bytes.

from loaded_chip import LoadedChip
from vclock import CLOCK

# Factory parameters of a real chip (from a captured frame: 02 E1 80, 00 3E A8, 4F 9A E8).
VPARAM = 188800
IPARAM = 16040
PPARAM = 5217000

LINE = (4800, 8, 0, 1)  # 8E1: MicroPython's parity=0 is even
BYTE_BITS = 11  # start + 8 data + parity + stop
FRAME_US = 55000  # 24 bytes * 11 bits / 4800 baud, exactly
_BITS_US = 11000000  # BYTE_BITS * 1e6: byte k is in at phase + (k + 1) * _BITS_US / baud
_BAUD = 4800
_CYCLE_MAX = 0xFFFFFF  # 24-bit cycle register; a longer period is an overflow
_STEP_US = 55000  # energy integration step (the load is sampled once a step)
_PJ_PER_MWH = 3600000000000  # 1 mWh = 3.6 J


def _cycle(k, x):
    # Cycle register for a reading x = param * coeff / cycle; None on overflow.
    if x <= 0:
        return None
    c = int(k / x + 0.5)
    if c > _CYCLE_MAX:
        return None
    return c if c > 0 else 1


def _put24(buf, i, v):
    buf[i] = (v >> 16) & 0xFF
    buf[i + 1] = (v >> 8) & 0xFF
    buf[i + 2] = v & 0xFF


def fill_frame(buf, volts, amps, watts, pf_total, kv=1.88, ki=1.0, vparam=VPARAM,
               iparam=IPARAM, pparam=PPARAM, update_mask=0x70, coef_fault=False,
               uncalibrated=False):
    """Write the 24-byte frame a chip with these parameters sends for this load."""
    flags = 0
    vc = _cycle(vparam * kv, volts)
    if vc is None:
        flags |= 0x08
        vc = _CYCLE_MAX
    ic = _cycle(iparam * ki, amps)
    if ic is None:
        flags |= 0x04
        ic = _CYCLE_MAX
    pc = _cycle(pparam * kv * ki, watts)
    if pc is None:
        flags |= 0x02  # no load: the usual 0xF2 frame
        pc = _CYCLE_MAX
    if uncalibrated:
        state = 0xAA
    elif flags or coef_fault:
        state = 0xF0 | flags | (0x01 if coef_fault else 0)
    else:
        state = 0x55
    upd = 0
    if not flags & 0x08:
        upd |= 0x40
    if not flags & 0x04:
        upd |= 0x20
    if not flags & 0x02:
        upd |= 0x10
    upd &= update_mask
    if (pf_total >> 16) & 1:
        upd |= 0x80
    buf[0] = state
    buf[1] = 0x5A
    _put24(buf, 2, vparam)
    _put24(buf, 5, vc)
    _put24(buf, 8, iparam)
    _put24(buf, 11, ic)
    _put24(buf, 14, pparam)
    _put24(buf, 17, pc)
    buf[20] = upd
    buf[21] = (pf_total >> 8) & 0xFF
    buf[22] = pf_total & 0xFF
    s = 0
    for i in range(2, 23):
        s += buf[i]
    buf[23] = s & 0xFF


def make_frame(volts, amps, watts=None, pf=1.0, pf_total=0, **kw):
    """The frame for one load as bytes (watts default to volts * amps * pf)."""
    if watts is None:
        watts = volts * amps * pf
    b = bytearray(24)
    fill_frame(b, volts, amps, watts, pf_total, **kw)
    return bytes(b)


class HLW8032Emu(LoadedChip):
    """One HLW8032 with a load; a machine.UART source."""

    def __init__(self, volts=230.0, amps=0.0, watts=None, pf=1.0, load=None, kv=1.88,
                 ki=1.0, vparam=VPARAM, iparam=IPARAM, pparam=PPARAM, phase_us=0, seed=1,
                 pf_start=0):
        LoadedChip.__init__(self, volts, amps, watts, pf, load)
        self.kv = kv
        self.ki = ki
        self.vparam = vparam
        self.iparam = iparam
        self.pparam = pparam
        self.phase_us = phase_us % FRAME_US
        self.pf_start = pf_start  # counter value at construction (tests start near a wrap)
        # fault knobs
        self.silent = False
        self.garbage = False
        self.corrupt_p = 0.0
        self.drop_p = 0.0
        self.coef_fault = False
        self.uncalibrated = False
        self.update_mask = 0x70
        # truth
        self.pulses = 0  # PF pulses since construction
        self.frames = 0  # frames built (sent or not)
        self.corrupted = 0
        self._kvki_u = int(kv * 1000 + 0.5) * int(ki * 1000 + 0.5)  # Kv*Ki in 1e-6
        self._pulse_pj = pparam * self._kvki_u  # one pulse = Pparam*Kv*Ki uJ
        self._acc_pj = 0  # energy not yet worth a pulse
        self._t = CLOCK.us
        self._f = -1
        self._frame = bytearray(24)
        self._rng = (seed * 2654435761) & 0xFFFFFFFF or 1

    # --- load and truth ---
    def counter(self):
        """(16-bit PF counter, carry bit) the chip would send now."""
        n = self.pf_start + self.pulses
        return n & 0xFFFF, (n >> 16) & 1

    def truth_mwh(self):
        """Energy of the emitted pulses, floor mWh (1 pulse = Pparam*Kv*Ki/3600 uWh)."""
        return self.pulses * self._pulse_pj // _PJ_PER_MWH

    def energy_wh(self):
        """Energy the load drew, pulses or not (float Wh)."""
        return (self.pulses * self._pulse_pj + self._acc_pj) / (_PJ_PER_MWH * 1000)

    def _advance(self, t):
        while self._t < t:
            t1 = min(self._t + _STEP_US, t)
            w = self.sample(self._t)[2]
            mw = int(w * 1000 + 0.5) if w > 0 else 0
            self._acc_pj += mw * (t1 - self._t) * 1000  # mW * us = nJ
            if self._acc_pj >= self._pulse_pj:
                n = self._acc_pj // self._pulse_pj
                self.pulses += n
                self._acc_pj -= n * self._pulse_pj
            self._t = t1

    # --- the UART side ---
    def _rand(self):
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x

    def _chance(self, p):
        return p > 0 and self._rand() < p * 4294967296

    def _count(self, t):
        # bytes whose stop bit is in by t
        t -= self.phase_us
        return t * _BAUD // _BITS_US if t > 0 else 0

    def _make(self, f):
        t = self.phase_us + f * FRAME_US
        self._advance(t)
        v, i, w = self.sample(t)
        fill_frame(self._frame, v, i, w, self.pf_start + self.pulses, self.kv, self.ki,
                   self.vparam, self.iparam, self.pparam, self.update_mask, self.coef_fault,
                   self.uncalibrated)
        if self._chance(self.corrupt_p):
            self._frame[23] ^= 1 + self._rand() % 255
            self.corrupted += 1
        self._f = f
        self.frames += 1

    def bytes_between(self, t0_us, t1_us, uart, out):
        """Append every byte whose stop bit completes in (t0_us, t1_us]."""
        if t1_us <= t0_us:
            return
        if self.silent:
            self._advance(t1_us)
            return
        good_line = uart is None or getattr(uart, "line", LINE) == LINE
        for k in range(self._count(t0_us), self._count(t1_us)):
            f = k // 24
            if f != self._f:
                self._make(f)
            c = self._frame[k - f * 24]
            if self.garbage:
                c = self._rand() & 0xFF
            if not good_line:
                c ^= 1 + self._rand() % 255
            if self.drop_p and self._chance(self.drop_p):
                continue
            out.append(c)


class ReplayUart:
    """A zero-allocation machine.UART stand-in for benches and heap tests.

    Replays `data` cyclically at the 4800 8E1 byte rate on the virtual clock; like the
    ESP32 driver it keeps at most `rxbuf` bytes (older ones are lost).
    """

    def __init__(self, data, clock=CLOCK, byte_us=2291, rxbuf=256):
        self.data = data
        self.clock = clock
        self.byte_us = byte_us
        self.rxbuf = rxbuf
        self.line = LINE
        self._read = clock.us // byte_us  # absolute index of the next byte to read

    def any(self):
        n = self.clock.us // self.byte_us - self._read
        if n > self.rxbuf:
            self._read += n - self.rxbuf
            n = self.rxbuf
        return n

    def readinto(self, buf, n=-1):
        a = self.any()
        if n < 0 or n > len(buf):
            n = len(buf)
        n = min(n, a)
        if n <= 0:
            return None
        data = self.data
        m = len(data)
        j = self._read % m
        for i in range(n):
            buf[i] = data[j]
            j += 1
            if j == m:
                j = 0
        self._read += n
        return n
