# NTC thermistor in a divider with a fixed resistor, read on an ADC pin.
#
#   supply --- r_fixed ---+--- NTC --- GND      ntc_high=False (default)
#                        ADC
#   supply --- NTC -------+--- r_fixed --- GND  ntc_high=True
#
# Temperature from the B-parameter equation 1/T = 1/T25 + ln(R / R25) / B (T in kelvin).
# An open or shorted sensor is reported as a fault, never as a temperature: a resistance
# above r_open_ohm (default 50 * r25, colder than about -45 C for B 3950) is 'open', below
# r_short_ohm (default r25 / 50, hotter than about 150 C) is 'short'.
#
# ESP32 note: with 11 dB attenuation the converter saturates near 3.1 V, below a 3.3 V
# divider supply; keep the open-sensor voltage inside the measurable range (or set
# r_open_ohm to what a saturated reading means) so an open NTC is not read as cold.

import math

from micropython import const

_U16_FULL = const(65535)  # read_u16() full scale
_T25_K = 298.15  # 25 C, the reference point of r25 and beta
_ZERO_C_K = 273.15

FAULT_OPEN = "open"
FAULT_SHORT = "short"


class NTC:
    """Temperature of one NTC on `adc` (a configured machine.ADC).

    Reads with adc.read_uv() (the ESP32's eFuse-calibrated microvolts) unless fs_mv is
    given, then with read_u16() scaled to fs_mv full scale. supply_mv is the divider's
    supply. read() averages `samples` readings.
    """

    def __init__(self, adc, r25_ohm=10000, beta=3950, r_fixed_ohm=10000, supply_mv=3300,
                 ntc_high=False, samples=8, fs_mv=None, r_open_ohm=None, r_short_ohm=None):
        self._adc = adc
        self.r25_ohm = r25_ohm
        self.beta = beta
        self.r_fixed_ohm = r_fixed_ohm
        self.supply_mv = supply_mv
        self.ntc_high = ntc_high
        self.samples = samples
        self.fs_mv = fs_mv
        self.r_open_ohm = r_open_ohm if r_open_ohm is not None else r25_ohm * 50
        self.r_short_ohm = r_short_ohm if r_short_ohm is not None else r25_ohm / 50
        self.ohms = None  # last resistance (None when the ratio is at a rail)

    def ratio(self):
        """Mean ADC voltage over the divider supply (0.0 .. 1.0)."""
        acc = 0
        if self.fs_mv is None:
            read = self._adc.read_uv
            for _ in range(self.samples):
                acc += read()
            return acc / (self.samples * self.supply_mv * 1000)
        read = self._adc.read_u16
        for _ in range(self.samples):
            acc += read()
        return acc * self.fs_mv / (self.samples * _U16_FULL * self.supply_mv)

    def read(self):
        """(tenths of a degree C as int, None) or (None, 'open' | 'short')."""
        x = self.ratio()
        if self.ntc_high:
            x = 1.0 - x  # the NTC's share of the supply, as in the low-side divider
        if x >= 1.0:
            self.ohms = None
            return None, FAULT_OPEN
        if x <= 0.0:
            self.ohms = None
            return None, FAULT_SHORT
        r = self.r_fixed_ohm * x / (1.0 - x)
        self.ohms = r
        if r >= self.r_open_ohm:
            return None, FAULT_OPEN
        if r <= self.r_short_ohm:
            return None, FAULT_SHORT
        t_k = 1.0 / (1.0 / _T25_K + math.log(r / self.r25_ohm) / self.beta)
        c10 = (t_k - _ZERO_C_K) * 10.0
        return int(c10 + 0.5) if c10 >= 0 else -int(0.5 - c10), None
