# NTC thermistor divider model for the virtual board (MicroPython and CPython).
#
#   m = NTCModel(temp_c=25.0); m.connect(34)   # the ADC on pin 34 sees the divider
#   m.temp_c = 72.0; m.fault = "open"          # change the world, break the sensor
#
# Resistance from the B-parameter equation R = R25 * exp(B * (1/T - 1/T25)); the divider
# as in drivers/ntc.py (NTC to ground by default, ntc_high=True for NTC to the supply),
# with the reference cabinet's parts by default (10 k B3950 NTC, 12 k fixed, 3.3 V). The
# pin voltage goes through the fake ADC's ESP32 transfer curve (machine.ADC): an open
# low-side NTC puts 3.3 V on the pin, which the ADC reads as its ~3.13 V saturation.

import math

_T25_K = 298.15
_ZERO_C_K = 273.15


class NTCModel:
    def __init__(self, temp_c=25.0, r25_ohm=10000, beta=3950, r_fixed_ohm=12000,
                 supply_v=3.3, ntc_high=False):
        self.temp_c = temp_c
        self.r25_ohm = r25_ohm
        self.beta = beta
        self.r_fixed_ohm = r_fixed_ohm
        self.supply_v = supply_v
        self.ntc_high = ntc_high
        self.fault = None  # None, "open" (broken lead) or "short"

    def ohms(self):
        t_k = self.temp_c + _ZERO_C_K
        return self.r25_ohm * math.exp(self.beta * (1.0 / t_k - 1.0 / _T25_K))

    def volts(self, t_us=0):
        """Voltage at the ADC pin now."""
        if self.fault == "open":
            share = 1.0  # no current: the NTC side takes the whole supply
        elif self.fault == "short":
            share = 0.0
        else:
            r = self.ohms()
            share = r / (r + self.r_fixed_ohm)
        return self.supply_v * ((1.0 - share) if self.ntc_high else share)

    def connect(self, adc_pin_id):
        import machine

        machine.ADC.connect(adc_pin_id, self.volts)
        return self
