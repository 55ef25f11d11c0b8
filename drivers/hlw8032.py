# HLW8032 single-phase energy meter: frame decoding, stream re-synchronisation and
# energy accumulation from the PF pulse counter.
#
# The chip streams 24-byte frames back to back at 4800 baud 8E1 (55 ms a frame):
#   0      state: 0x55 normal, 0xAA not calibrated, 0xFx abnormal with flags
#          (bit3 voltage, bit2 current, bit1 power cycle overflow, bit0 coefficient fault)
#   1      0x5A
#   2-4    voltage parameter    5-7   voltage cycle      (24-bit big-endian each)
#   8-10   current parameter    11-13 current cycle
#   14-16  power parameter      17-19 power cycle
#   20     bit7 PF counter overflow toggle, bit6/5/4 voltage/current/power updated
#   21-22  PF pulse counter (16-bit big-endian)
#   23     low 8 bits of the sum of bytes 2..22
# V = Vparam / Vcycle * Kv, I = Iparam / Icycle * Ki, P = Pparam / Pcycle * Kv * Ki,
# one PF pulse = Pparam * Kv * Ki / 3600 micro-Wh.
#
# The hot path (decode_into, StreamReader, PulseEnergy) uses integers only and keeps
# every intermediate below 2**30, so it allocates nothing on the ESP32, whose small ints
# are 31-bit (a bigger int, like any float, is a heap object there).

from array import array

from micropython import const

from drivers.pulse_energy import MAX_W, PulseEnergy, milli, wrap_add  # noqa: F401 (the API)

FRAME_LEN = const(24)
_HEADER = const(0x5A)  # byte 1 of every frame
_ST_NORMAL = const(0x55)
_ST_UNCALIBRATED = const(0xAA)
_ST_ABNORMAL = const(0xF0)  # high nibble of an abnormal state; low nibble holds flags
_FL_V_OVF = const(0x08)
_FL_I_OVF = const(0x04)
_FL_P_OVF = const(0x02)  # also the usual no-load state 0xF2: power reads 0
_FL_COEF = const(0x01)  # coefficient storage fault: nothing in the frame is usable
_UPD_V = const(0x40)
_UPD_I = const(0x20)
_UPD_P = const(0x10)
_PF_CARRY = const(0x80)

KV_M = const(1880)  # 4 x 470 kOhm / 1 kOhm divider, in milli-units
KI_M = const(1000)  # 1 mOhm shunt, in milli-units
_VAL_MAX = const(0x3FFFFFFF)  # clamp for readings from absurd (tiny) cycle values

# decode_into status codes
OK = const(0)
E_LENGTH = const(1)
E_HEADER = const(2)
E_CHECKSUM = const(3)
E_STATE = const(4)  # 0xAA or an abnormal state with the coefficient-fault bit

# decode_into output slots (an array('i', 7) or a list)
V_MV = const(0)
I_MA = const(1)
P_MW = const(2)
PF_COUNT = const(3)
PF_CARRY = const(4)
P_PARAM = const(5)  # power parameter, needed to weigh PF pulses
STATE = const(6)  # raw state byte (0x55, or 0xFx with overflow flags such as 0xF2)
OUT_LEN = const(7)


def new_out():
    """A preallocated output array for decode_into."""
    return array("i", [0] * OUT_LEN)


def _u24(b, i):
    return (b[i] << 16) | (b[i + 1] << 8) | b[i + 2]


def _muldiv(a, b, d, s):
    """floor(a * b / (d * s)) for 0 <= a < 2**24, 0 < d < 2**24, b >= 0, s >= 1.

    Long multiplication over 5-bit digits of b with the remainder kept below d, so
    no intermediate leaves the ESP32's small-int range while the result fits in it.
    """
    r = 0
    qh = 0
    ql = 0  # quotient so far = qh * s + ql
    sh = 0
    while (b >> sh) > 31:
        sh += 5
    while sh >= 0:
        r = (r << 5) + a * ((b >> sh) & 31)  # < 32 * d + 31 * a < 2**30
        t = r // d
        r -= t * d
        ql = (ql << 5) + t
        qh = (qh << 5) + ql // s
        ql %= s
        sh -= 5
    return qh


def _reading(par, cyc, k, s):
    # A cycle register of 0 measures nothing (seen on real chips with the bit cleared).
    if cyc == 0:
        return 0
    v = _muldiv(par, k, cyc, s)
    return min(v, _VAL_MAX)


def _check(buf, o):
    """Frame status of buf[o:o+24] without decoding it (OK, E_* code)."""
    if len(buf) - o < FRAME_LEN or o < 0:
        return E_LENGTH
    if buf[o + 1] != _HEADER:
        return E_HEADER
    s = 0
    for i in range(o + 2, o + 23):
        s += buf[i]
    if (s & 0xFF) != buf[o + 23]:
        return E_CHECKSUM
    st = buf[o]
    if st == _ST_UNCALIBRATED or (st & 0xF0 == _ST_ABNORMAL and st & _FL_COEF):
        return E_STATE
    return OK


def decode_into(buf, offset, out, kv_m=KV_M, ki_m=KI_M):
    """Decode the frame at buf[offset:offset+24] into `out` (see the slot constants).

    Integer only, no allocation: millivolts, milliamps, milliwatts (floored), PF count,
    PF carry bit, power parameter, state byte. Kv and Ki are given in milli-units.
    Returns OK or an E_* code; `out` is written only on OK.
    """
    st = _check(buf, offset)
    if st != OK:
        return st
    o = offset
    state = buf[o]
    flags = state & 0x0F if state & 0xF0 == _ST_ABNORMAL else 0
    upd = buf[o + 20]
    mv = 0
    if upd & _UPD_V and not flags & _FL_V_OVF:
        mv = _reading(_u24(buf, o + 2), _u24(buf, o + 5), kv_m, 1)
    ma = 0
    if upd & _UPD_I and not flags & _FL_I_OVF:
        ma = _reading(_u24(buf, o + 8), _u24(buf, o + 11), ki_m, 1)
    mw = 0
    if upd & _UPD_P and not flags & _FL_P_OVF:
        mw = _reading(_u24(buf, o + 14), _u24(buf, o + 17), kv_m * ki_m, 1000)
    out[V_MV] = mv
    out[I_MA] = ma
    out[P_MW] = mw
    out[PF_COUNT] = (buf[o + 21] << 8) | buf[o + 22]
    out[PF_CARRY] = 1 if upd & _PF_CARRY else 0
    out[P_PARAM] = _u24(buf, o + 14)
    out[STATE] = state
    return OK


def decode(frame, kv=1.88, ki=1.0):
    """The driver contract: (volts, amps, watts, pf_count, pf_carry) or None.

    None for a wrong length, byte 1 not 0x5A, a checksum mismatch, state 0xAA or an
    abnormal state with the coefficient-fault bit. A value is 0.0 when its updated bit
    is clear, its overflow flag is set in a 0xFx state, or its cycle register is 0.
    Any other state byte reads as normal (StreamReader never aligns on one).
    """
    if len(frame) != FRAME_LEN or _check(frame, 0) != OK:
        return None
    state = frame[0]
    flags = state & 0x0F if state & 0xF0 == _ST_ABNORMAL else 0
    upd = frame[20]
    volts = amps = watts = 0.0
    cyc = _u24(frame, 5)
    if upd & _UPD_V and not flags & _FL_V_OVF and cyc:
        volts = _u24(frame, 2) / cyc * kv
    cyc = _u24(frame, 11)
    if upd & _UPD_I and not flags & _FL_I_OVF and cyc:
        amps = _u24(frame, 8) / cyc * ki
    cyc = _u24(frame, 17)
    if upd & _UPD_P and not flags & _FL_P_OVF and cyc:
        watts = _u24(frame, 14) / cyc * kv * ki
    return (volts, amps, watts, (frame[21] << 8) | frame[22], 1 if upd & _PF_CARRY else 0)


def _is_state(c):
    return c == _ST_NORMAL or c >= _ST_ABNORMAL or c == _ST_UNCALIBRATED


class StreamReader:
    """Finds frames in a byte stream and decodes them into `values` (decode_into slots).

    feed() takes any bytes and never raises; it aligns on a valid state byte followed by
    0x5A and, after a checksum failure, re-aligns on the next such pair inside the failed
    window (so a lost byte costs one frame). Counters: frames (usable), checksum_errors,
    abnormal (0xAA / coefficient fault), skipped (bytes dropped while aligning) and
    sync_misses: failed windows starting in the first 24 bytes after reset() - the tail
    of a frame cut by a multiplexer switch, not an error of the meter.
    """

    def __init__(self, kv=1.88, ki=1.0):
        self.kv_m = milli(kv)
        self.ki_m = milli(ki)
        self.values = new_out()
        self.on_frame = None  # optional fn(buf): buf[0:24] is the frame just decoded
        self._buf = bytearray(FRAME_LEN)
        self._n = 0  # bytes of the candidate frame in _buf
        self._hunt = 0
        self.frames = 0
        self.checksum_errors = 0
        self.abnormal = 0
        self.skipped = 0
        self.sync_misses = 0
        self.reset()

    def reset(self):
        """Forget the partial frame (call after switching the line to another meter)."""
        self._n = 0
        self._hunt = 2 * FRAME_LEN

    def feed(self, data, n=-1):
        """Consume data[0:n] (all of it by default); return the number of usable frames."""
        if n < 0 or n > len(data):
            n = len(data)
        b = self._buf
        k = self._n
        hunt = self._hunt
        got = 0
        for i in range(n):
            c = data[i]
            if hunt:
                hunt -= 1
            if k == 0:
                if _is_state(c):
                    b[0] = c
                    k = 1
                else:
                    self.skipped += 1
            elif k == 1:
                if c == _HEADER:
                    b[1] = c
                    k = 2
                else:
                    self.skipped += 1  # the byte held as state
                    if _is_state(c):
                        b[0] = c
                    else:
                        k = 0
            else:
                b[k] = c
                k += 1
                if k == FRAME_LEN:
                    st = decode_into(b, 0, self.values, self.kv_m, self.ki_m)
                    if st == OK:
                        got += 1
                        self.frames += 1
                        hunt = 0
                        k = 0
                        if self.on_frame is not None:
                            self.on_frame(b)
                    elif st == E_STATE:
                        self.abnormal += 1
                        k = 0
                    else:
                        if hunt:
                            self.sync_misses += 1
                        else:
                            self.checksum_errors += 1
                        k = self._realign(b)
        self._n = k
        self._hunt = hunt
        return got

    def _realign(self, b):
        # Next state byte + 0x5A inside the failed window becomes the frame start.
        j = 1
        while j < FRAME_LEN:
            if _is_state(b[j]) and (j == FRAME_LEN - 1 or b[j + 1] == _HEADER):
                break
            j += 1
        self.skipped += j
        k = FRAME_LEN - j
        for i in range(k):
            b[i] = b[i + j]
        return k


# --- energy from the PF pulse counter ---------------------------------------------

class Chip:
    """The HLW8032 as the meter scanner sees it (drivers/meterscan.py, "chip").

    It streams frames unasked, so there is no request; after a multiplexer switch a visit
    costs the rest of the frame on the wire plus one whole frame (55-110 ms).
    """

    name = "hlw8032"
    line = (4800, 8, 0, 1)  # 8E1: MicroPython's parity=0 is even
    request = None
    visit_ms = 3 * 55 + 5  # a dead meter must not stall the sweep

    def __init__(self, kv=1.88, ki=1.0, max_w=MAX_W):
        self.kv = kv
        self.ki = ki
        self.max_w = max_w

    def reader(self):
        return StreamReader(self.kv, self.ki)

    def energy(self):
        return PulseEnergy(self.kv, self.ki, self.max_w)
