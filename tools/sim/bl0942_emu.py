# BL0942 emulator for the virtual board (MicroPython unix port and CPython).
#
# Turns a load (volts, amps, watts) into the packets a real chip sends when asked: the
# host's read command 0x58|addr then 0xAA arrives through the UART's TX (machine.UART
# write -> rxmux.RxMux -> tx_bytes here); the chip answers 23 bytes at 4800 8N1, one byte
# time after the request's last stop bit (2 ms; the datasheet gives no turnaround, real
# chips answer within a byte time). Registers from the datasheet scaling (drivers/bl0942.py
# scales()), CF_CNT advancing with the integrated energy. It never speaks unasked.
#
#   emu = BL0942Emu(volts=230.0, amps=2.0, pf=0.95)
#   mux.connect(3, emu)  (or uart.source = emu)
#
# Fault knobs (as HLW8032Emu's): silent (no answer), garbage (random bytes at the byte
# rate, asked or not), corrupt_p (probability a reply's checksum is wrong), drop_p
# (probability a byte is lost). A request at other line settings than 4800/8/N/1 is not
# understood (no answer). `cf_total` and truth_mwh() are the exact truth for tests.

from loaded_chip import LoadedChip
from vclock import CLOCK

from drivers.bl0942 import PACKET_LEN, checksum, scales

LINE = (4800, 8, None, 1)
BYTE_US = 2084  # 10 bits at 4800 baud (2083.3 us), as the fake UART's 1000000*10//4800
TURNAROUND_US = BYTE_US
_STEP_US = 50000  # energy integration step (the load is sampled once a step)
_FREQ_50HZ = 20000  # FREQ register: mains period in us


def _put24(buf, i, v):
    buf[i] = v & 0xFF
    buf[i + 1] = (v >> 8) & 0xFF
    buf[i + 2] = (v >> 16) & 0xFF


def fill_packet(buf, volts, amps, watts, cf_cnt, addr=0, circuit=None, status=0,
                period_us=_FREQ_50HZ):
    """Write the 23-byte reply of a chip with this load and CF count into buf."""
    iref, uref, pref, _ = scales(*(circuit or ()))
    i_rms = min(int(amps * iref + 0.5), 0xFFFFFF) if amps > 0 else 0
    v_rms = min(int(volts * uref + 0.5), 0xFFFFFF) if volts > 0 else 0
    w = int(watts * pref + (0.5 if watts >= 0 else -0.5))
    w = max(-0x800000, min(w, 0x7FFFFF)) & 0xFFFFFF
    buf[0] = 0x55
    _put24(buf, 1, i_rms)
    _put24(buf, 4, v_rms)
    _put24(buf, 7, i_rms)  # fast RMS: the same current, over half cycles
    _put24(buf, 10, w)
    _put24(buf, 13, cf_cnt & 0xFFFFFF)
    _put24(buf, 16, period_us & 0xFFFF)
    _put24(buf, 19, status & 0xFFFF)
    buf[22] = checksum(0x58 | addr, buf)


def make_packet(volts, amps, watts=None, pf=1.0, cf_cnt=0, addr=0, **kw):
    """One reply as bytes (watts default to volts * amps * pf)."""
    if watts is None:
        watts = volts * amps * pf
    b = bytearray(PACKET_LEN)
    fill_packet(b, volts, amps, watts, cf_cnt, addr, **kw)
    return bytes(b)


class BL0942Emu(LoadedChip):
    """One BL0942 with a load; a UART source that answers read requests."""

    def __init__(self, volts=230.0, amps=0.0, watts=None, pf=1.0, load=None, addr=0,
                 seed=1, cf_start=0, circuit=None):
        LoadedChip.__init__(self, volts, amps, watts, pf, load)
        self.addr = addr
        self.circuit = circuit  # (shunt_mohm, r1_kohm, r2_kohm) or None: reference
        self.cf_start = cf_start
        self.silent = False
        self.garbage = False
        self.corrupt_p = 0.0
        self.drop_p = 0.0
        self.cf_total = 0  # CF counts since construction
        self.requests = 0  # requests understood
        self.replies = 0
        self.corrupted = 0
        _, _, pref, j_per_cf = scales(*(circuit or ()))
        self._cf_nj = int(j_per_cf * 1e9 + 0.5)  # one count in nJ
        self._acc_nj = 0
        self._t = CLOCK.us
        self._rx = bytearray()  # request bytes being received
        self._reply = bytearray(PACKET_LEN)
        self._reply_t0 = None  # stop bit of the reply's first byte lands at t0 + BYTE_US
        self._rng = (seed * 2654435761) & 0xFFFFFFFF or 1

    # --- truth (the load itself: loaded_chip.py) ---
    def truth_mwh(self):
        """Energy of the counted CF pulses, floor mWh."""
        return self.cf_total * self._cf_nj // 3600000000  # 1 mWh = 3.6e9 nJ

    def energy_wh(self):
        return (self.cf_total * self._cf_nj + self._acc_nj) / 3.6e12

    def _advance(self, t):
        while self._t < t:
            t1 = min(self._t + _STEP_US, t)
            w = self.sample(self._t)[2]
            mw = int(abs(w) * 1000 + 0.5)
            self._acc_nj += mw * (t1 - self._t)  # mW * us = nJ
            if self._acc_nj >= self._cf_nj:
                n = self._acc_nj // self._cf_nj
                self.cf_total += n
                self._acc_nj -= n * self._cf_nj
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

    def tx_bytes(self, data, t0_us, uart):
        """The host's bytes, the first starting at t0_us (its stop bit at + BYTE_US)."""
        if uart is not None and getattr(uart, "line", LINE) != LINE:
            self._rx = bytearray()  # framing errors: nothing understood
            return
        for k, c in enumerate(data):
            rx = self._rx
            if not rx:
                if c & 0xFC == 0x58 and c & 3 == self.addr:
                    rx.append(c)
            elif c == 0xAA:
                self._rx = bytearray()
                self._answer(t0_us + (k + 1) * BYTE_US)
            else:
                self._rx = bytearray()

    def _answer(self, t_end_us):
        self.requests += 1
        if self.silent or self.garbage:
            return
        t0 = t_end_us + TURNAROUND_US
        self._advance(t0)
        v, i, w = self.sample(t0)
        fill_packet(self._reply, v, i, w, self.cf_start + self.cf_total, self.addr,
                    self.circuit)
        if self._chance(self.corrupt_p):
            self._reply[22] ^= 1 + self._rand() % 255
            self.corrupted += 1
        self._reply_t0 = t0
        self.replies += 1

    def bytes_between(self, t0_us, t1_us, uart, out):
        """Append every byte whose stop bit completes in (t0_us, t1_us]."""
        if t1_us <= t0_us:
            return
        self._advance(t1_us)
        if self.garbage:
            for _ in range(t0_us // BYTE_US, t1_us // BYTE_US):
                out.append(self._rand() & 0xFF)
            return
        r0 = self._reply_t0
        if r0 is None or self.silent:
            return
        for k in range(PACKET_LEN):
            t = r0 + (k + 1) * BYTE_US
            if t <= t0_us:
                continue
            if t > t1_us:
                return
            if self.drop_p and self._chance(self.drop_p):
                continue
            out.append(self._reply[k])
        self._reply_t0 = None  # all sent
