# The fake ADC's ESP32 transfer curve (tools/sim/machine.py ADC): saturation, knee,
# 12-bit codes, and what read(), read_u16() and read_uv() return on the esp32 port.
import machine

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

PIN = 36


def _adc(volts, atten=None):
    machine.reset_board()
    machine.ADC.connect(PIN, lambda t_us: volts)
    if atten is None:
        return machine.ADC(machine.Pin(PIN))
    return machine.ADC(machine.Pin(PIN), atten=atten)


def test_11db_saturates_near_3_1_volts_not_3_3():
    assert _adc(3.3).read() == 4095
    assert _adc(3.15).read() == 4095
    assert _adc(3.0).read() < 4000  # still measurable
    uv = _adc(3.3).read_uv()
    assert 3100000 <= uv <= 3150000, uv  # a 3.3 V pin reads ~3.13 V


def test_11db_knee_pins_the_bottom():
    for v in (0.0, 0.05, 0.10, 0.14):
        a = _adc(v)
        assert a.read() == 0, v
        assert a.read_uv() == 142000, v  # raw 0 calibrates to the 142 mV offset
    assert 0 < _adc(0.149).read() < _adc(0.2).read()


def test_11db_recommended_range_reads_to_a_few_millivolts():
    for mv in range(150, 2451, 37):
        uv = _adc(mv / 1000).read_uv()
        assert abs(uv - mv * 1000) <= 10000, (mv, uv)
        assert uv % 1000 == 0  # whole millivolts, times 1000


def test_codes_are_12_bit_and_monotonic():
    last = -1
    for mv in range(0, 3400, 5):
        c = _adc(mv / 1000).read()
        assert 0 <= c <= 4095 and c >= last, (mv, c, last)
        assert isinstance(c, int)
        last = c


def test_read_u16_is_the_raw_code_scaled_as_the_port_does():
    for v in (0.0, 0.5, 1.2, 2.4, 3.3):
        a = _adc(v)
        raw = a.read()
        assert a.read_u16() == (raw << 4 | raw >> 8)
    assert _adc(3.3).read_u16() == 65535
    assert _adc(0.0).read_u16() == 0


def test_each_attenuation_saturates_and_knees_where_esp_idf_says():
    # (atten, below the knee, inside the measurable range, saturated)
    cases = ((machine.ADC.ATTN_0DB, 0.07, (0.10, 0.95), 1.06),
             (machine.ADC.ATTN_2_5DB, 0.07, (0.10, 1.25), 1.38),
             (machine.ADC.ATTN_6DB, 0.10, (0.15, 1.75), 1.90),
             (machine.ADC.ATTN_11DB, 0.14, (0.15, 2.45), 3.15))
    for atten, knee, (lo, hi), sat in cases:
        assert _adc(knee, atten).read() == 0, atten
        assert _adc(sat, atten).read() == 4095, atten
        for v in (lo + 0.005, (lo + hi) / 2, hi):
            uv = _adc(v, atten).read_uv()
            assert abs(uv - v * 1e6) <= 10000, (atten, v, uv)
            assert 0 < _adc(v, atten).read() < 4095


def test_default_attenuation_is_11db_as_the_port():
    assert _adc(3.3).read() == 4095 and _adc(2.0).read() < 4095


def test_only_adc_pins_are_accepted():
    machine.reset_board()
    for gpio in (5, 16, 17, 18, 21, 22, 23):
        try:
            machine.ADC(machine.Pin(gpio))
        except ValueError:
            continue
        raise AssertionError("GPIO%d is no ADC channel" % gpio)
    machine.ADC(machine.Pin(39))
    machine.ADC(machine.Pin(25))  # ADC2 exists (unusable with Wi-Fi: the config refuses)


def test_a_read_takes_sample_time():
    a = _adc(1.0)
    from vclock import CLOCK

    t = CLOCK.us
    a.read_uv()
    assert CLOCK.us - t == machine.ADC.SAMPLE_US


def test_adc2_cannot_be_read_while_wifi_is_on():
    import network

    network.reset()
    a = _adc(1.0)  # GPIO36, ADC1
    machine.ADC.connect(25, lambda t_us: 1.0)
    b = machine.ADC(machine.Pin(25))
    assert b.read() > 0
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    try:
        try:
            b.read_uv()
        except OSError:
            pass
        else:
            raise AssertionError("ADC2 read with Wi-Fi on")
        assert a.read() > 0  # ADC1 is unaffected
    finally:
        wlan.active(False)
        network.reset()


def test_between_the_offset_and_the_measurable_range_readings_run_low():
    # The knee is soft: just above the code-0 voltage the converter rises slower than
    # its line, so read_uv under-reads there (0 dB: 75 mV offset, measurable from 100 mV).
    uv = _adc(0.085, machine.ADC.ATTN_0DB).read_uv()
    assert 75000 <= uv <= 81000, uv
    uv = _adc(0.110, machine.ADC.ATTN_0DB).read_uv()
    assert abs(uv - 110000) <= 2000, uv  # inside the range: right again
