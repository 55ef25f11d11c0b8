# Current transformers on one ADC pin, optionally behind an analog multiplexer.
#
# Hardware: each CT secondary drives a burden resistor floating on a DC bias (a divider to
# about mid-scale), so the ADC sees bias + i(t) * burden / turns. Ports share one ADC pin
# through a CD4051 (8 ch, 3 select lines) or 74HC4067 (16 ch, 4 select lines); a board
# with a few CTs may wire one straight to an ADC pin (no select lines).
#
# Method: sample for whole mains cycles (time-bounded with the injected clock's ticks_us),
# accumulate integer sums of x and x*x around the smoothed bias, and take the RMS about the
# window's own mean. Over whole cycles the mean of a CT signal is exactly the DC bias (a
# CT passes no DC), so a drifting bias costs nothing; the smoothed bias only keeps the
# integers small (small ints, no heap) and flags a broken bias network. Taking every
# sample the ADC can give over the whole window (about 500 per cycle at 25 k/s) reads the
# peaky current of chargers without PFC (crest factor 3-4) correctly; sparse sampling
# would under-read it (FIELD_FACTS 3).
#
# Mains frequency: the window is whole cycles of the nominal mains_hz. Off-nominal mains
# leaves a sliver of a cycle (0.4 % of the window at 50.2 Hz); on crest-4 current a sliver
# landing on a pulse peak moves one reading by up to 3 % (0.75 % at 50.05 Hz). The error
# averages out over readings (the sliver falls at a random phase), so energy is unbiased.
#
# Integer arithmetic only; a reading allocates no heap on the ESP32 while every value
# stays a small int (< 2**30): the sum of squares does while samples * RMS**2 < 2**30
# (1000 samples: RMS under ~1000 counts, ~20 A with a 1000:1 CT into 40 ohm, far above
# any port limit); everything after the loop does for any 12-bit signal. Beyond that the
# numbers stay exact as long ints.

from micropython import const

from drivers.board import Meters

_CODE_SHIFT = const(4)  # read_u16() carries the ESP32's 12-bit code scaled by 16
_FULL_CODE = const(4095)  # 12-bit SAR converter
_MID_CODE = const(2048)  # bias assumed before the first reading of a channel
_SETTLE_READS = const(3)  # reads dropped after a mux switch (CD4051 t_on < 1 us, input RC)
_BIAS_MIN = const(205)  # mean below 5 % of full scale: bias divider or wiring fault
_BIAS_MAX = const(3890)  # mean above 95 % of full scale: same
_Q = const(4)  # smoothed bias kept in 1/16 count
_BIAS_EMA_SHIFT = const(2)  # smoothed bias moves 1/4 of the way to each window mean
_F_FINE = const(16)  # fraction bits of the variance when it is small ...
_FINE_BELOW = const(8192)  # ... below this many counts**2 (RMS < 90 counts)
_F_COARSE = const(8)  # fraction bits above that (a 12-bit variance < 2**22)
_CAL_MAX = const(32768)  # calibration scaled below 2**15: rms (< 2**15) * cal < 2**30
_ENERGY_STEP_MS = const(250)  # energy integrated in steps that keep mW*ms below 2**30
_MWMS2_PER_MWH = const(7200000)  # 2 (trapezoid) * 3 600 000 mW*ms per mWh
_WRAP = const(0x3FFFFFFF)  # energy_mwh wraps at 2**30: small ints on the ESP32
_AGE_CAP_MS = const(1 << 28)  # ages saturate here (3.1 days), below the ticks wrap

FAULT_BIAS = "bias"


def a_per_count(turns, burden_ohm, full_scale_v=3.3):
    """Calibration from the parts: amps of primary current per 12-bit ADC count."""
    return full_scale_v / _FULL_CODE * turns / burden_ohm


def _isqrt(v):
    """floor(sqrt(v)) for an int v >= 0, digit by digit (no floats, no heap)."""
    bit = 1
    while bit <= v >> 2:
        bit <<= 2
    r = 0
    while bit:
        if v >= r + bit:
            v -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    return r


def _fixed(x, limit):
    """(round(x * 2**c), c) with the largest c >= 0 that keeps the first below limit."""
    c = 0
    while x * (1 << (c + 1)) < limit and c < 40:
        c += 1
    return int(x * (1 << c) + 0.5), c


def _per_channel(value, n):
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError("need one value per channel")
        return list(value)
    return [value] * n


class CT:
    """RMS current of one CT at a time on `adc` (a machine.ADC with read_u16).

    select: mux select Pins, S0 (LSB) first; () or None for a CT wired straight to the ADC.
    a_per_count: amps per ADC count (see a_per_count()), one value or one per channel.
    noise_counts2: ADC noise variance at zero current (counts**2, measured at
    commissioning from `var_counts2`), subtracted in quadrature; one value or per channel.
    One read takes cycles / mains_hz seconds (40 ms by default) plus a mux settle.
    """

    def __init__(self, adc, select, clock, a_per_count, mains_hz=50, cycles=2,
                 noise_counts2=0):
        self._read = adc.read_u16
        self._tus = clock.ticks_us
        self._tdiff = clock.ticks_diff
        self._select = tuple(select or ())
        self.channels = 1 << len(self._select)
        self.window_us = int(cycles * 1000000 // mains_hz)
        # mA per count as cal_q / 2**cal_c
        cal = [_fixed(a * 1000, _CAL_MAX) for a in _per_channel(a_per_count, self.channels)]
        self._cal_q = [c[0] for c in cal]
        self._cal_c = [c[1] for c in cal]
        self._noise_q = [int(v * (1 << _F_FINE) + 0.5)
                         for v in _per_channel(noise_counts2, self.channels)]
        self._bias_q = [_MID_CODE << _Q] * self.channels
        self._seeded = bytearray(self.channels)
        self._chan = -1
        self.samples = 0  # samples in the last window
        self._var_q = 0  # variance of the last window * 2**_var_f, before noise removal
        self._var_f = 0
        self.fault = None  # None or FAULT_BIAS for the last read

    def select(self, channel):
        """Route `channel` to the ADC (drops a few reads while the input settles)."""
        if channel == self._chan:
            return
        if not 0 <= channel < self.channels:
            raise ValueError("no such channel")
        sel = self._select
        for i in range(len(sel)):
            sel[i].value((channel >> i) & 1)
        self._chan = channel
        read = self._read
        for _ in range(_SETTLE_READS):
            read()

    @property
    def var_counts2(self):
        """Variance of the last window in counts**2, before noise subtraction (float)."""
        return self._var_q / (1 << self._var_f)

    def bias(self, channel=0):
        """Smoothed DC bias of `channel` in ADC counts (float)."""
        return self._bias_q[channel] / (1 << _Q)

    def read_ma(self, channel=0):
        """RMS current in mA (int) over whole mains cycles, or None when the bias is out
        of range (open bias divider, missing CT plug on a biased connector)."""
        self.select(channel)
        read = self._read
        tus = self._tus
        tdiff = self._tdiff
        window = self.window_us
        b = self._bias_q[channel] >> _Q
        n = 0
        s = 0
        ss = 0
        t0 = tus()
        while tdiff(tus(), t0) < window:
            x = (read() >> _CODE_SHIFT) - b
            s += x
            ss += x * x
            n += 1
        self.samples = n
        mean_q = (b << _Q) + (s << _Q) // n
        if self._seeded[channel]:
            self._bias_q[channel] += (mean_q - self._bias_q[channel]) >> _BIAS_EMA_SHIFT
        else:
            self._bias_q[channel] = mean_q
            self._seeded[channel] = 1
        if not _BIAS_MIN << _Q <= mean_q <= _BIAS_MAX << _Q:
            self.fault = FAULT_BIAS
            self._seeded[channel] = 0  # start afresh once the bias is back
            return None
        self.fault = None
        # variance = mean square about k = floor(mean), minus (mean - k)**2 = (t / n)**2
        k = s // n
        t = s - k * n
        ss -= (2 * s - k * n) * k  # now the sum of (x - k)**2
        q = ss // n
        r = ss - q * n
        f = _F_FINE if q < _FINE_BELOW else _F_COARSE
        h = f >> 1
        u = ((t << h) + (n >> 1)) // n  # (mean - k) * 2**h, rounded
        var_q = (q << f) + (r << f) // n - u * u  # variance * 2**f
        self._var_q = var_q
        self._var_f = f
        var_q -= self._noise_q[channel] >> (_F_FINE - f)
        if var_q <= 0:
            return 0
        rms_q = _isqrt(var_q)  # floor(rms * 2**h), then rounded to nearest
        if var_q - rms_q * rms_q > rms_q:
            rms_q += 1
        sh = h + self._cal_c[channel]  # times mA-per-count * 2**cal_c
        return (rms_q * self._cal_q[channel] + (1 << (sh - 1))) >> sh


class CTMeters(Meters):
    """Per-port meters on CTs, with the attribute API of drivers.meterscan.MeterScanner.

    Per port p (preallocated lists of ints): mv (the nominal voltage: a CT measures no
    voltage), ma (RMS current), mw (estimated power), energy_mwh (monotonic, wrapping at
    2**30 like ticks), seen_ms (ticks_ms of the last reading; construction time before the
    first), frames (readings taken; a change means a new reading), misses (readings
    rejected for a bias fault).
    sweep_ms: duration of the last full rotation over all ports (0 until one has
    completed), sweeps: rotations completed. age_ms(p), silent(p) as the scanner's.

    Power is estimated as nominal_v * ma * pf_pct / 100: a CT sees no phase, so a power
    factor is assumed (chargers without PFC run at 0.5-0.7, FIELD_FACTS 3; resistive loads
    at 1.0, so a heater reads 40 % low at pf_pct=60; its amps still trip). Energy
    integrates that power between a port's readings (trapezoid, integer mW*ms remainders
    kept per port, nothing lost to rounding); a gap longer than silent_ms is integrated
    over silent_ms only.

    poll() measures ONE port and moves to the next: it blocks for one CT window (40 ms at
    50 Hz with cycles=2, plus a mux settle), so a 10-port sweep takes about 0.4 s. The
    control loop calls it once per tick between its other work.
    """

    def __init__(self, adc, select, ports, clock, a_per_count, nominal_v=230, pf_pct=60,
                 mains_hz=50, cycles=2, silent_ms=3000, channels=None, noise_counts2=0):
        chans = list(channels) if channels is not None else list(range(ports))
        if len(chans) != ports:
            raise ValueError("need one mux channel per port")
        nch = 1 << len(tuple(select or ()))
        cal = _per_channel(a_per_count, ports)
        noise = _per_channel(noise_counts2, ports)
        cal_ch = [cal[0]] * nch
        noise_ch = [0] * nch
        for p in range(ports):
            cal_ch[chans[p]] = cal[p]
            noise_ch[chans[p]] = noise[p]
        # CT takes noise_counts2 as one value or one per channel; pyright infers int
        self.ct = CT(adc, select, clock, cal_ch, mains_hz, cycles,
                     noise_ch)  # pyright: ignore[reportArgumentType]
        self._tms = clock.ticks_ms
        self._tdiff = clock.ticks_diff
        self._ticks_add = clock.ticks_add
        self._chans = chans
        self._v = nominal_v
        self._pf = pf_pct
        self.ports = ports
        self.silent_ms = silent_ms
        now = self._tms()
        self.mv = [nominal_v * 1000] * ports
        self.ma = [0] * ports
        self.mw = [0] * ports
        self.energy_mwh = [0] * ports
        self.seen_ms = [now] * ports
        self.frames = [0] * ports
        self.misses = [0] * ports
        self._rem = [0] * ports  # energy remainder, 2 * mW*ms
        self._next = 0
        self._sweep_t0 = now
        self.sweep_ms = 0
        self.sweeps = 0
        self.last_port = -1  # the port the last poll() measured

    def poll(self):
        """Measure the next port (blocks one CT window, see above); returns the number
        of ports that got a new reading (1, or 0 on a bias fault). last_port tells which."""
        self.last_port = p = self._next
        ma = self.ct.read_ma(self._chans[p])
        now = self._tms()
        got = 0
        if ma is None:
            self.misses[p] += 1
        else:
            mw = self._v * ma * self._pf // 100
            if self.frames[p]:
                self._integrate(p, mw, self._tdiff(now, self.seen_ms[p]))
            self.ma[p] = ma
            self.mw[p] = mw
            self.seen_ms[p] = now
            self.frames[p] += 1
            got = 1
        p += 1
        if p >= self.ports:
            p = 0
            self.sweep_ms = self._tdiff(now, self._sweep_t0)
            self._sweep_t0 = now
            self.sweeps += 1
            self._cap_ages(now)
        self._next = p
        return got

    def _cap_ages(self, now):
        # ticks_diff is only meaningful within 2**29 ms; keep old timestamps in range so
        # a port silent for days stays silent instead of wrapping back to "fresh".
        for p in range(self.ports):
            if self._tdiff(now, self.seen_ms[p]) > _AGE_CAP_MS:
                self.seen_ms[p] = self._ticks_add(now, -_AGE_CAP_MS)

    def _integrate(self, p, mw, dt_ms):
        dt_ms = min(dt_ms, self.silent_ms)
        two_mw = self.mw[p] + mw  # trapezoid: twice the mean power over the interval
        rem = self._rem[p]
        while dt_ms > 0:
            step = min(dt_ms, _ENERGY_STEP_MS)
            rem += two_mw * step
            dt_ms -= step
            if rem >= _MWMS2_PER_MWH:
                q = rem // _MWMS2_PER_MWH
                e = self.energy_mwh[p]
                room = _WRAP - e  # wrap at 2**30 without a long int (q <= room: no wrap)
                self.energy_mwh[p] = e + q if q <= room else q - room - 1
                rem -= q * _MWMS2_PER_MWH
        self._rem[p] = rem

    def age_ms(self, p):
        """Milliseconds since port p's last reading (since construction before the first)."""
        return self._tdiff(self._tms(), self.seen_ms[p])

    def silent(self, p):
        """True when port p has had no valid reading for silent_ms."""
        return self.age_ms(p) >= self.silent_ms
