# Energy from the HLW8032's PF pulse counter, in integer milli-Wh (drivers/hlw8032.py
# decodes the frames; this turns a frame's pulse count and power parameter into energy).
#
# Like the decoder it uses integers only and keeps every intermediate below 2**30, so it
# allocates nothing on the ESP32, whose small ints are 31-bit.

from micropython import const

# drivers/hlw8032.py's output slots (PF_COUNT, PF_CARRY, P_PARAM), copied as constants
# because hlw8032 imports this module; host_tests check that they agree.
_PF_COUNT = const(3)
_PF_CARRY = const(4)
_P_PARAM = const(5)
def milli(x):
    """A coefficient such as Kv = 1.88 as integer milli-units (1880)."""
    return int(x * 1000 + 0.5)



_UWH_DEN = const(3600000)  # micro-Wh per pulse = Pparam * Kv*Ki(milli) / 3 600 000
_CHUNK = const(0x3FFF)  # most pulses added per step (fewer for heavy pulses, see _chunk)
_SMALL = const(0x1FFFFFFF)  # keep step products below this (ESP32 small ints: 2**30)
MAX_W = const(5000)  # above anything one port can draw (16 A fuse at 250 V is 4 kW)
_JUMP_SLACK_MS = const(500)  # frame timing jitter allowed in the jump check
_ELAPSED_CAP_MS = const(600000)  # beyond this the 16-bit counter is ambiguous anyway
_WRAP = const(0x3FFFFFFF)  # mwh and pulses wrap at 2**30: small ints on the ESP32


def cap_elapsed(ms):
    """The time between two readings, clamped to 0.._ELAPSED_CAP_MS (a counter that has not
    been read for longer is ambiguous anyway, and the products stay small)."""
    if ms < 0:
        return 0
    return ms if ms < _ELAPSED_CAP_MS else _ELAPSED_CAP_MS


def implausible(delta, per_s, elapsed_ms):
    """More counts than a port at most power (per_s counts a second) makes in elapsed_ms
    (capped) plus the frame timing slack: a corrupted counter or a swapped chip, not energy.
    Shared by every counting meter chip (HLW8032 PF pulses, BL0942 CF counts)."""
    return delta > per_s * ((elapsed_ms + _JUMP_SLACK_MS) // 1000 + 1)


def wrap_add(c, d):
    """Counter c plus d (both 0.._WRAP), wrapped at 2**30 without a long int."""
    room = _WRAP - c
    return c + d if d <= room else d - room - 1


class PulseEnergy:
    """Running PF pulse total and energy in integer milli-Wh for one HLW8032.

    update() takes each usable frame's counter: delta = (count - last) & 0xFFFF, plus
    65536 when the bit-7 toggle parity disagrees with the wrap the delta implies (a full
    wrap missed between readings). A delta above what `max_w` could produce in the
    elapsed time (plus slack) is rejected, counted in `jumps` and re-baselined (a meter
    reset or a corrupted counter). Energy keeps the remainder of every division, so
    `mwh` is exactly floor(pulses * Pparam * Kv*Ki / 3.6e9) with Kv*Ki taken in
    milli-units (exact for Kv = 1.88, Ki = 1.0). Both counters wrap at 2**30 (1073 kWh:
    a busy port's year or two), like ticks, so they stay small ints on the ESP32; take
    differences with firmware/core/ticks.py counter_diff().
    """

    def __init__(self, kv=1.88, ki=1.0, max_w=MAX_W):
        self.kp_m = (milli(kv) * milli(ki) + 500) // 1000  # Kv*Ki in milli-units
        self.max_w = max_w
        self.pulses = 0  # accepted pulses since construction
        self.mwh = 0
        self.jumps = 0
        self.missed_wraps = 0  # full wraps recovered from the toggle bit
        self._last = -1
        self._carry = 0
        self._pparam = -1
        self._uwh = 0  # micro-Wh below one mWh
        self._rem = 0  # fraction of a micro-Wh, in 1/_UWH_DEN
        self._cq = 0  # whole micro-Wh per pulse
        self._cr = 0  # and its remainder in 1/_UWH_DEN
        self._chunk = _CHUNK
        self._max_pps = 0  # pulses per second at max_w

    def _set_pparam(self, pparam):
        # Runs once per chip (the power parameter is a factory constant), so the
        # one-off big-int products here do not matter.
        c = pparam * self.kp_m
        self._cq = c // _UWH_DEN
        self._cr = c - self._cq * _UWH_DEN
        self._chunk = min(_CHUNK, _SMALL // (self._cq + 1))  # chunk * cq < 2**29
        self._max_pps = self.max_w * 1000000000 // c + 1
        self._pparam = pparam

    def update(self, count, carry, pparam, elapsed_ms):
        """Account one frame's PF counter; return the pulses added (-1 if rejected)."""
        if pparam <= 0:
            return 0
        if pparam != self._pparam:
            self._set_pparam(pparam)
        last = self._last
        self._last = count
        toggled = (carry ^ self._carry) & 1
        self._carry = carry
        if last < 0:
            return 0
        delta = (count - last) & 0xFFFF
        missed = toggled != (1 if count < last else 0)
        if missed:
            delta += 0x10000
        if implausible(delta, self._max_pps, cap_elapsed(elapsed_ms)):
            self.jumps += 1
            return -1
        if missed:
            self.missed_wraps += 1
        self._add(delta)
        return delta

    def take(self, v, elapsed_ms):
        """The scanner's energy interface: one decoded frame's slots (decode_into)."""
        return self.update(v[_PF_COUNT], v[_PF_CARRY], v[_P_PARAM], elapsed_ms)

    def _add(self, n):
        cq = self._cq
        cr = self._cr
        chunk = self._chunk
        while n > 0:
            d = min(n, chunk)
            n -= d
            # floor(d * cr / DEN) over 5-bit digits of d; r < DEN < 2**22
            q = 0
            r = 0
            sh = 0
            while (d >> sh) > 31:
                sh += 5
            while sh >= 0:
                r = (r << 5) + cr * ((d >> sh) & 31)
                t = r // _UWH_DEN
                q = (q << 5) + t
                r -= t * _UWH_DEN
                sh -= 5
            r += self._rem
            if r >= _UWH_DEN:
                r -= _UWH_DEN
                q += 1
            self._rem = r
            u = self._uwh + d * cq + q
            self.mwh = wrap_add(self.mwh, u // 1000)
            self._uwh = u % 1000
            self.pulses = wrap_add(self.pulses, d)
