# NTC thermistor in a divider with a fixed resistor, read on an ESP32 ADC pin at 11 dB.
#
#   supply --- r_fixed ---+--- NTC --- GND      ntc_high=False (default)
#                        ADC
#   supply --- NTC -------+--- r_fixed --- GND  ntc_high=True
#
# Temperature from the B-parameter equation 1/T = 1/T25 + ln(R / R25) / B (T in kelvin).
#
# The ESP32's ADC is not ideal (tools/sim/machine.py ADC models it from ESP-IDF): at 11 dB
# it is specified over 150-2450 mV, saturates near 3.1 V (a 3.3 V pin reads ~3.13 V) and
# is pinned at its ~142 mV offset below the knee. So the rails are never reached: an open
# low-side NTC reads ~3.13 V (about -26 C with a 10 k fixed resistor), a shorted one ~0.14 V
# (about 125 C). A mean reading at or above rail_high_mv or at or below rail_low_mv is a
# rail, i.e. a fault, never a temperature: for the low-side NTC high = 'open', low =
# 'short' (swapped for ntc_high). Resistances beyond r_open_ohm / r_short_ohm are faults
# too.
#
# Reference divider (docs/wiring.md): 10 k B3950 NTC to ground, 12 k from 3.3 V. It puts
# the 0-85 C working range at 2.43-0.27 V, inside the recommended 150-2450 mV (70 C at
# 0.42 V, 85 C at 0.27 V); readings are temperatures from about -22 C (3.0 V) to about
# 107 C (150 mV). A 10 k fixed resistor put 0 C at 2.54 V, in the curve's compressed top.

import math

from micropython import const

_T25_K = 298.15  # 25 C, the reference point of r25 and beta
_ZERO_C_K = 273.15
R_FIXED_OHM = const(12000)  # reference divider's fixed resistor (see above)
# ESP-IDF ADC docs, ESP32 at 11 dB: measurable from 150 mV; saturated codes calibrate to
# 3.06-3.21 V over the eFuse Vref spread (1000-1200 mV LUTs), so 3.0 V is a safe rail mark.
RAIL_LOW_MV = const(150)
RAIL_HIGH_MV = const(3000)

FAULT_OPEN = "open"
FAULT_SHORT = "short"


class NTC:
    """Temperature of one NTC on `adc` (a machine.ADC at 11 dB).

    Reads adc.read_uv() (the ESP32's eFuse-calibrated microvolts; read_u16() is the raw
    code, offset by ~142 mV and bent above 2.45 V, so it is not used). supply_mv is the
    divider's supply. read() averages `samples` readings.
    """

    def __init__(self, adc, r25_ohm=10000, beta=3950, r_fixed_ohm=R_FIXED_OHM, supply_mv=3300,
                 ntc_high=False, samples=8, r_open_ohm=None, r_short_ohm=None,
                 rail_low_mv=RAIL_LOW_MV, rail_high_mv=RAIL_HIGH_MV):
        self._adc = adc
        self.r25_ohm = r25_ohm
        self.beta = beta
        self.r_fixed_ohm = r_fixed_ohm
        self.supply_mv = supply_mv
        self.ntc_high = ntc_high
        self.samples = samples
        self.r_open_ohm = r_open_ohm if r_open_ohm is not None else r25_ohm * 50
        self.r_short_ohm = r_short_ohm if r_short_ohm is not None else r25_ohm / 50
        self.rail_low_uv = rail_low_mv * 1000
        self.rail_high_uv = rail_high_mv * 1000
        self.ohms = None  # last resistance (None when the reading is at a rail)
        self.mean_uv = 0  # last mean reading

    def read(self):
        """(tenths of a degree C as int, None) or (None, 'open' | 'short')."""
        acc = 0
        read = self._adc.read_uv
        for _ in range(self.samples):
            acc += read()
        uv = acc // self.samples
        self.mean_uv = uv
        high = FAULT_SHORT if self.ntc_high else FAULT_OPEN
        low = FAULT_OPEN if self.ntc_high else FAULT_SHORT
        if uv >= self.rail_high_uv:
            self.ohms = None
            return None, high
        if uv <= self.rail_low_uv:
            self.ohms = None
            return None, low
        x = uv / (self.supply_mv * 1000)
        if self.ntc_high:
            x = 1.0 - x  # the NTC's share of the supply, as in the low-side divider
        if x >= 1.0 or x <= 0.0:  # a supply below the reading: nothing to compute
            self.ohms = None
            return None, FAULT_OPEN if x >= 1.0 else FAULT_SHORT
        r = self.r_fixed_ohm * x / (1.0 - x)
        self.ohms = r
        if r >= self.r_open_ohm:
            return None, FAULT_OPEN
        if r <= self.r_short_ohm:
            return None, FAULT_SHORT
        t_k = 1.0 / (1.0 / _T25_K + math.log(r / self.r25_ohm) / self.beta)
        c10 = (t_k - _ZERO_C_K) * 10.0
        return int(c10 + 0.5) if c10 >= 0 else -int(0.5 - c10), None
