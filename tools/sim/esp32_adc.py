# The ESP32's SAR ADC transfer curve and its calibration, for the fake machine.ADC
# (MicroPython and CPython).
#
#   c = Curve(3)                 # 11 dB attenuation
#   c.code_of(3.3)               # -> 4095: saturated near 3.1 V
#   c.calibrated_mv(0)           # -> 142: what read_uv() reports below the knee
#
# Sources:
# - ESP-IDF components/esp_adc/esp32/adc_cali_line_fitting.c, the calibration read_uv()
#   applies on an ESP32 (ports/esp32/adc.c calls adc_cali_raw_to_voltage): with the eFuse
#   Vref, coeff_a = Vref * atten_scale / 4096 and mV = (coeff_a * raw + 32768) / 65536 +
#   atten_offset; at 11 dB codes from 2880 go through a 20-point table (steps of 64, at
#   Vref 1000 and 1200 mV, interpolated at the chip's Vref), blended with the line over
#   2880-2944.
# - ESP-IDF ADC docs (ESP32): measurable ranges 0 dB 100-950 mV, 2.5 dB 100-1250 mV,
#   6 dB 150-1750 mV, 11 dB 150-2450 mV.
# - A WROOM-32 measured at 11 dB: 135 mV -> code 0, 3135 mV -> 4095 (kisel/esp32_adc_test).
#
# Model: the converter is the inverse of that calibration (Espressif's characterisation of
# a typical chip), so read_uv() is right to a few mV inside the range, and it keeps the
# real limits. With the nominal Vref of 1100 mV:
#   0 dB   code 0 up to  75 mV, 4095 from ~1.04 V
#   2.5 dB code 0 up to  78 mV, 4095 from ~1.36 V
#   6 dB   code 0 up to 107 mV, 4095 from ~1.88 V
#   11 dB  code 0 up to 142 mV, 4095 from ~3.13 V (a 3.3 V pin reads ~3.13 V)
# The knee: below the offset the code is pinned at 0, and up to the documented lower end
# (100/100/150/150 mV) it rises slower than the line (scaled by the distance into the
# knee). Codes are rounded to 12 bits. Not modelled: noise, the chip-to-chip Vref spread
# (7 mV eFuse steps around 1100 mV), the ADC2 unit's own constants.

FULL_CODE = 4095  # 12-bit SAR converter
VREF_MV = 1100  # eFuse Vref of a nominal chip (IDF VREF_OFFSET)
# adc_cali_line_fitting.c (ESP32, ADC1), per attenuation 0 / 2.5 / 6 / 11 dB
_ATTEN_SCALE = (57431, 76236, 105481, 196602)  # adc1_vref_atten_scale
_ATTEN_OFFSET_MV = (75, 78, 107, 142)  # adc1_vref_atten_offset: the code-0 voltage
_MIN_MV = (100, 100, 150, 150)  # IDF docs: lower end of the measurable range
_LUT_LOW_THRESH = 2880  # 11 dB table: codes 2880..4096 in steps of 64
_LUT_STEP = 64
_LUT_LOW_MV = (2240, 2297, 2352, 2405, 2457, 2512, 2564, 2616, 2664, 2709,
               2754, 2795, 2832, 2868, 2903, 2937, 2969, 3000, 3030, 3060)  # at Vref 1000
_LUT_HIGH_MV = (2667, 2706, 2745, 2780, 2813, 2844, 2873, 2901, 2928, 2956,
                2982, 3006, 3032, 3059, 3084, 3110, 3135, 3160, 3184, 3209)  # at Vref 1200


class Curve:
    """One attenuation's transfer curve (volts -> code) and calibration (code -> mV)."""

    def __init__(self, atten, vref_mv=VREF_MV):
        self.atten = atten
        self.offset_mv = _ATTEN_OFFSET_MV[atten]
        self.min_mv = _MIN_MV[atten]
        self.coeff_a = vref_mv * _ATTEN_SCALE[atten] // 4096
        self.lut_mv = None
        if atten == 3:  # the table at this chip's Vref (linear in Vref)
            w = vref_mv - 1000
            self.lut_mv = [(lo * (200 - w) + hi * w + 100) // 200
                           for lo, hi in zip(_LUT_LOW_MV, _LUT_HIGH_MV)]

    # --- calibration (what read_uv applies), integer maths as ESP-IDF ---
    def _linear_mv(self, raw):
        return (self.coeff_a * raw + 32768) // 65536 + self.offset_mv

    def _lut_at(self, raw):
        lut = self.lut_mv
        i = (raw - _LUT_LOW_THRESH) // _LUT_STEP
        if i + 1 >= len(lut):
            return lut[-1]
        x = raw - _LUT_LOW_THRESH - i * _LUT_STEP
        return (lut[i] * (_LUT_STEP - x) + lut[i + 1] * x + _LUT_STEP // 2) // _LUT_STEP

    def calibrated_mv(self, raw):
        """adc_cali_raw_to_voltage (whole millivolts)."""
        if self.lut_mv is None or raw < _LUT_LOW_THRESH:
            return self._linear_mv(raw)
        lut_mv = self._lut_at(raw)
        if raw > _LUT_LOW_THRESH + _LUT_STEP:
            return lut_mv
        x = raw - _LUT_LOW_THRESH  # blend line -> table over the first step
        return (self._linear_mv(raw) * (_LUT_STEP - x) + lut_mv * x
                + _LUT_STEP // 2) // _LUT_STEP

    # --- the converter: volts at the pin -> code ---
    def code_of(self, volts):
        mv = volts * 1000.0
        off = self.offset_mv
        if mv <= off:
            return 0  # below the knee the SAR reads zero
        lut = self.lut_mv
        if lut is not None and mv >= lut[0]:
            if mv >= lut[-1]:
                return FULL_CODE  # saturated
            i = 0
            while lut[i + 1] <= mv:
                i += 1
            x = _LUT_LOW_THRESH + _LUT_STEP * (i + (mv - lut[i]) / (lut[i + 1] - lut[i]))
        else:
            x = (mv - off) * 65536.0 / self.coeff_a
            if mv < self.min_mv:
                x *= (mv - off) / (self.min_mv - off)  # the knee: slower than the line
        code = int(x + 0.5)
        return FULL_CODE if code > FULL_CODE else code
