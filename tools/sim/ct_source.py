# Current-transformer signal models for the virtual board (MicroPython and CPython).
#
#   ch = CTChannel(v_per_a=0.04, bias_v=1.65)   # 1000:1 CT into 40 ohm, bias at Vcc/2
#   ch.set_current(2.0, crest=3.5)              # a charger without PFC drawing 2 A RMS
#   mux = Mux([25, 26, 27, 14], 36)             # 74HC4067 select pins -> ADC pin 36
#   mux.attach(3, ch)                           # CT of port 3 on mux input 3
#
# A switch-mode charger without PFC charges its input capacitor only near the voltage
# peaks: narrow current pulses, alternating in sign each half cycle, crest factor 3-4
# (FIELD_FACTS 3). The model uses half-sine pulses centred on each voltage peak; a pulse
# of duty d (fraction of the half cycle) has crest factor sqrt(2 / d), so d = 2 / crest**2.

import math

_SQRT2 = math.sqrt(2.0)


class CTChannel:
    """One CT with its burden and bias network: volts at the mux input over time."""

    def __init__(self, v_per_a=0.04, bias_v=1.65, hz=50.0, phase_deg=0.0):
        self.v_per_a = v_per_a  # burden ohms / turns
        self.bias_v = bias_v
        self.hz = hz
        self.phase = phase_deg / 360.0
        self.rms_a = 0.0
        self.crest = _SQRT2
        self._peak_a = 0.0
        self._duty = 1.0
        self.drift_v_per_s = 0.0
        self._drift_t0_us = 0
        self.noise_v = 0.0  # RMS of added ADC-input noise (deterministic generator)
        self._seed = 12345

    def set_current(self, rms_a, crest=None):
        """Draw rms_a amps RMS: a sine (crest None or <= sqrt 2) or SMPS pulses."""
        if crest is None or crest <= _SQRT2 + 1e-9:
            crest = _SQRT2
        self.rms_a = rms_a
        self.crest = crest
        self._peak_a = rms_a * crest
        self._duty = 2.0 / (crest * crest)

    def set_drift(self, v_per_s, t_us):
        """Let the bias drift linearly from its value at t_us (temperature, supply)."""
        self.bias_v = self.bias_at(t_us)
        self._drift_t0_us = t_us
        self.drift_v_per_s = v_per_s

    def bias_at(self, t_us):
        return self.bias_v + self.drift_v_per_s * (t_us - self._drift_t0_us) / 1e6

    def amps(self, t_us):
        u = (t_us * self.hz / 1e6 + self.phase) % 1.0  # position in the mains cycle
        if self._duty >= 1.0:
            return self._peak_a * math.sin(2.0 * math.pi * u)
        sign = 1.0
        if u >= 0.5:
            u -= 0.5
            sign = -1.0
        x = (2.0 * u - 0.5) / self._duty + 0.5  # 0..1 across a pulse centred on the peak
        if x <= 0.0 or x >= 1.0:
            return 0.0
        return sign * self._peak_a * math.sin(math.pi * x)

    def _noise(self):
        # Sum of 4 uniforms from a 31-bit LCG: near-Gaussian, repeatable, no imports.
        acc = 0
        for _ in range(4):
            self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
            acc += self._seed
        return (acc / 0x7FFFFFFF - 2.0) * 1.7320508  # unit variance (4 * 1/12 each)

    def volts(self, t_us):
        v = self.bias_at(t_us) + self.amps(t_us) * self.v_per_a
        if self.noise_v:
            v += self.noise_v * self._noise()
        return v


class Mux:
    """CD4051 / 74HC4067 in front of one ADC pin: follows its select pins (S0 first)."""

    def __init__(self, select_ids, adc_pin_id, open_v=0.0):
        import machine

        self._ids = list(select_ids)
        self._inputs = {}
        self.open_v = open_v  # an unconnected input (pulled down on the board)
        self.switches = 0
        self.channel = 0
        self._follow()
        self.switches = 0
        for pid in self._ids:
            machine.Pin.watch(pid, self._changed)
        machine.ADC.connect(adc_pin_id, self.volts)

    def _follow(self):
        import machine

        ch = 0
        for i, pid in enumerate(self._ids):
            ch |= machine.Pin.level(pid) << i
        if ch != self.channel:
            self.switches += 1
        self.channel = ch

    def _changed(self, pin_id, level):
        self._follow()

    def attach(self, channel, source):
        """Put `source` (anything with volts(t_us)) on mux input `channel`."""
        self._inputs[channel] = source

    def volts(self, t_us):
        src = self._inputs.get(self.channel)
        return src.volts(t_us) if src is not None else self.open_v


def connect_direct(adc_pin_id, channel):
    """Wire one CTChannel straight to an ADC pin (no multiplexer)."""
    import machine

    machine.ADC.connect(adc_pin_id, channel.volts)
