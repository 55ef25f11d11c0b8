# BL0942 single-phase energy meter (Shanghai Belling) on its UART: read-packet request,
# reply decoding and energy from the CF pulse counter.
#
# UART mode (SEL = 0): 4800 baud 8N1, half duplex, the chip only answers. The host sends
# the read command 0x58 | addr (addr 0-3 from the A2/A1 pins of the TSSOP14 package; the
# SSOP10 is always 0) then 0xAA, "read the full packet"; the chip answers 23 bytes:
#   0      0x55 head
#   1-3    I_RMS       4-6   V_RMS       7-9   I_FAST_RMS      (24-bit unsigned)
#   10-12  WATT (24-bit two's complement)    13-15 CF_CNT (24-bit unsigned)
#   16-18  FREQ (16-bit mains period in us, third byte reserved)
#   19-21  STATUS (16-bit flags, third byte reserved; kept, not judged)
#   22     checksum = ~((0x58 | addr) + bytes 0..21) & 0xFF
# Every field is little-endian (low byte first). 23 bytes of 10 bits at 4800 baud: 48 ms.
#
# Scaling (datasheet "electrical parameters"; the same figures ESPHome's bl0942.h and the
# Belling application note use), with Vref = 1.218 V, I(A) and V(V) the millivolts at the
# IP/IN and VP pins:
#   I_RMS = 305978 * I(A) / Vref,  V_RMS = 73989 * V(V) / Vref,
#   WATT = 3537 * I(A) * V(V) * cos(phi) / Vref**2,
#   one CF_CNT count = 1638.4 * 256 / WATT seconds, i.e. 1638.4 * 256 / Pref joules.
# Reference circuit: 1 mOhm shunt, divider 5 x 390 kOhm over 0.51 kOhm, which gives
#   IREF = 251213 counts/A, UREF = 15883.3 counts/V, PREF = 623.4 counts/W and
#   one CF count = 672.8 J = 0.1869 Wh (5350 counts/kWh; ESPHome's BL0942_EREF).
#
# The hot path (decode_into, PacketReader, CfEnergy) is integer only with every
# intermediate below 2**30, so it allocates nothing on the ESP32 (31-bit small ints).

from array import array

from micropython import const

from drivers.hlw8032 import _muldiv
from drivers.pulse_energy import cap_elapsed, implausible, wrap_add

PACKET_LEN = const(23)
_HEAD = const(0x55)
_CMD_READ = const(0x58)  # | addr (0-3)
_REG_PACKET = const(0xAA)  # "all measurement registers" read address
BYTE_US_8N1 = const(2084)  # 10 bits at 4800 baud (2083.3 us)
REPLY_MS = const(53)  # request 2 bytes + reply 23 bytes at 4800 8N1, plus a byte's turnaround

# Datasheet constants (V1.06, "electrical parameter" section) and the reference circuit.
VREF_V = 1.218
I_GAIN = 305978  # I_RMS = 305978 * I(mV) / Vref
V_GAIN = 73989  # V_RMS = 73989 * V(mV) / Vref
P_GAIN = 3537  # WATT = 3537 * I(mV) * V(mV) * cos(phi) / Vref**2
CF_J_WATT = 1638.4 * 256  # one CF_CNT count lasts 1638.4 * 256 / WATT seconds
SHUNT_MOHM = 1.0
DIV_R1_KOHM = 5 * 390.0  # divider top
DIV_R2_KOHM = 0.51  # divider bottom, across VP


def scales(shunt_mohm=SHUNT_MOHM, r1_kohm=DIV_R1_KOHM, r2_kohm=DIV_R2_KOHM):
    """(counts per A, counts per V, counts per W, joules per CF count) for a circuit."""
    i_mv_per_a = shunt_mohm  # 1 A through 1 mOhm: 1 mV
    v_mv_per_v = 1000.0 * r2_kohm / (r1_kohm + r2_kohm)
    iref = I_GAIN * i_mv_per_a / VREF_V
    uref = V_GAIN * v_mv_per_v / VREF_V
    pref = P_GAIN * i_mv_per_a * v_mv_per_v / (VREF_V * VREF_V)
    return iref, uref, pref, CF_J_WATT / pref


# decode_into status codes (as drivers.hlw8032's, so the scanner counts them alike)
OK = const(0)
E_LENGTH = const(1)
E_HEADER = const(2)
E_CHECKSUM = const(3)

# decode_into output slots: the first three are the scanner's (hlw8032 V_MV/I_MA/P_MW)
V_MV = const(0)
I_MA = const(1)
P_MW = const(2)
CF_COUNT = const(3)  # 24-bit energy pulse counter
FREQ_CHZ = const(4)  # mains frequency in 1/100 Hz (0 when the period reads 0)
STATUS = const(5)
OUT_LEN = const(6)

_SCALE_BITS = const(23)  # divisors kept below 2**23 (_muldiv needs d < 2**24)


def request(addr=0):
    """The two bytes that ask chip `addr` (0-3) for its full packet."""
    if not 0 <= addr <= 3:
        raise ValueError("BL0942 address %r is not 0-3" % (addr,))
    return bytes((_CMD_READ | addr, _REG_PACKET))


def _ratio(counts_per_unit):
    # mUnits = raw * 1000 / counts_per_unit as raw * b // d with d < 2**23, integers
    sh = 0
    while counts_per_unit * (1 << (sh + 1)) < (1 << _SCALE_BITS) and sh < 40:
        sh += 1
    return 1000 << sh, int(counts_per_unit * (1 << sh) + 0.5)


def _u24(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)


def checksum(cmd, buf, o=0):
    """The checksum the chip puts in byte 22: ~(cmd + bytes 0..21) & 0xFF."""
    s = cmd
    for i in range(o, o + PACKET_LEN - 1):
        s += buf[i]
    return ~s & 0xFF


class Scale:
    """Integer conversion factors for one circuit (shunt and divider)."""

    def __init__(self, shunt_mohm=SHUNT_MOHM, r1_kohm=DIV_R1_KOHM, r2_kohm=DIV_R2_KOHM):
        iref, uref, pref, j_per_cf = scales(shunt_mohm, r1_kohm, r2_kohm)
        self.ib, self.id = _ratio(iref)
        self.vb, self.vd = _ratio(uref)
        self.pb, self.pd = _ratio(pref)
        self.uwh_per_cf = int(j_per_cf * 1000000 / 3600 + 0.5)  # 186894 for the reference


def decode_into(buf, offset, out, cmd, scale):
    """Check and decode the packet at buf[offset:offset+23] into `out` (slot constants).

    cmd is the read command byte sent (0x58 | addr): it is part of the checksum. Integer
    only, no allocation; power is the magnitude of WATT (a shunt wired backwards reads
    negative, and a port's protection must see the load either way). Returns OK or an
    E_* code; `out` is written only on OK.
    """
    o = offset
    if o < 0 or len(buf) - o < PACKET_LEN:
        return E_LENGTH
    if buf[o] != _HEAD:
        return E_HEADER
    if checksum(cmd, buf, o) != buf[o + 22]:
        return E_CHECKSUM
    w = _u24(buf, o + 10)
    if w & 0x800000:
        w = 0x1000000 - w
    out[I_MA] = _muldiv(_u24(buf, o + 1), scale.ib, scale.id, 1)
    out[V_MV] = _muldiv(_u24(buf, o + 4), scale.vb, scale.vd, 1)
    out[P_MW] = _muldiv(w, scale.pb, scale.pd, 1)
    out[CF_COUNT] = _u24(buf, o + 13)
    per = buf[o + 16] | (buf[o + 17] << 8)
    out[FREQ_CHZ] = 100000000 // per if per else 0
    out[STATUS] = buf[o + 19] | (buf[o + 20] << 8)
    return OK


def new_out():
    return array("i", [0] * OUT_LEN)


class PacketReader:
    """Collects one reply after a request; decodes it into `values`.

    The chip speaks only when asked, so a reply starts with the first byte after the
    request: no hunting in a stream. Bytes before a 0x55 head are skipped (line noise
    after a multiplexer switch); a bad checksum drops the packet and the reader waits for
    the next request. Counters: frames, checksum_errors, abnormal (always 0: the BL0942
    has no abnormal-state byte), skipped (bytes that were not a packet).
    """

    def __init__(self, cmd, scale):
        self.cmd = cmd
        self.scale = scale
        self.values = new_out()
        self._buf = bytearray(PACKET_LEN)
        self._n = 0
        self._closed = False
        self.frames = 0
        self.checksum_errors = 0
        self.abnormal = 0
        self.skipped = 0

    def reset(self):
        """Forget any partial packet (a new request is on its way)."""
        self._n = 0
        self._closed = False

    def feed(self, data, n=-1):
        """Consume data[0:n]; return the number of good packets (0 or 1 per request)."""
        if n < 0 or n > len(data):
            n = len(data)
        b = self._buf
        k = self._n
        got = 0
        for i in range(n):
            c = data[i]
            if self._closed or (k == 0 and c != _HEAD):
                self.skipped += 1
                continue
            b[k] = c
            k += 1
            if k == PACKET_LEN:
                k = 0
                self._closed = True  # one reply per request; the rest is noise
                if decode_into(b, 0, self.values, self.cmd, self.scale) == OK:
                    got += 1
                    self.frames += 1
                else:
                    self.checksum_errors += 1
        self._n = k
        return got


# --- energy from the CF pulse counter ------------------------------------------------

_CF_MASK = const(0xFFFFFF)
_CHUNK = const(2047)  # counts added per step: 2047 * 186894 uWh < 2**29
_MAX_W = const(5000)
_MW_CAP = const(1 << 24)  # _muldiv's operand bound (16.7 kW: far above any port)


class CfEnergy:
    """Running CF count total and energy in integer milli-Wh for one BL0942.

    update() takes each good packet's 24-bit CF_CNT: delta = (count - last) & 0xFFFFFF.
    A delta above what `max_w` could give in the elapsed time (plus slack) is rejected,
    counted in `jumps` and re-baselined (a chip reset, a corrupted counter).
    One count is 0.187 Wh (the reference circuit): 67 s at 10 W, 5 min at 2 W, coarser
    than the 120 s "quiet window" the end-of-charge judgement measures (session.py). So
    between counts the packet's power times the time since the last packet is added as a
    partial, capped one uWh below a count and dropped when the next count arrives:
    `mwh` = floor((pulses * uwh_per_cf + partial) / 1000) never runs ahead of the chip by
    a count, never goes backwards, and moves with the load as the HLW8032's pulses do.
    `pulses` and `mwh` wrap at 2**30 like the HLW8032's (firmware/core/ticks.py
    counter_diff).
    """

    def __init__(self, scale, max_w=_MAX_W):
        self.cq = scale.uwh_per_cf
        self.pulses = 0
        self.mwh = 0
        self.jumps = 0
        self._last = -1
        self._cmwh = 0  # whole mWh of the counts
        self._uwh = 0  # and the uWh below one mWh
        self._part = 0  # uWh integrated from WATT since the last count (< cq)
        # counts per second at max_w, rounded up (one count every j_per_cf / max_w s)
        self._max_cps = max_w * 1000000 // (self.cq * 3600) + 1

    def update(self, count, elapsed_ms, mw=0):
        """Account one packet's CF_CNT (and its power, mW, for the partial between
        counts); return the counts added (-1 if rejected)."""
        last = self._last
        self._last = count
        if last < 0:
            return 0
        delta = (count - last) & _CF_MASK
        elapsed_ms = cap_elapsed(elapsed_ms)  # _muldiv below stays small
        if implausible(delta, self._max_cps, elapsed_ms):
            self.jumps += 1
            return -1
        if delta:
            self._part = 0
            n = delta
            while n > 0:
                d = min(n, _CHUNK)
                n -= d
                u = self._uwh + d * self.cq
                self._cmwh = wrap_add(self._cmwh, u // 1000)
                self._uwh = u % 1000
                self.pulses = wrap_add(self.pulses, d)
        elif 0 < mw < _MW_CAP:
            # mW * ms / 3600 = uWh; mw < 2**24, elapsed capped: _muldiv stays small
            self._part = min(self._part + _muldiv(mw, elapsed_ms, 3600, 1), self.cq - 1)
        self.mwh = wrap_add(self._cmwh, (self._uwh + self._part) // 1000)
        return delta

    def take(self, v, elapsed_ms):
        """The scanner's energy interface: one decoded packet's slots."""
        return self.update(v[CF_COUNT], elapsed_ms, v[P_MW])


class Chip:
    """The BL0942 as the meter scanner sees it (see drivers/meterscan.py, "chip").

    addr: the chip address on its UART (A2/A1 pins), 0 for every chip behind the
    multiplexer; the circuit's shunt and divider set the scale.
    """

    name = "bl0942"
    line = (4800, 8, None, 1)  # 8N1
    visit_ms = 3 * REPLY_MS + 5  # no reply in three packet times: a miss (as the HLW's 170)

    def __init__(self, addr=0, shunt_mohm=SHUNT_MOHM, r1_kohm=DIV_R1_KOHM,
                 r2_kohm=DIV_R2_KOHM, max_w=_MAX_W):
        self.request = request(addr)
        self.cmd = self.request[0]
        self.scale = Scale(shunt_mohm, r1_kohm, r2_kohm)
        self.max_w = max_w

    def reader(self):
        return PacketReader(self.cmd, self.scale)

    def energy(self):
        return CfEnergy(self.scale, self.max_w)
