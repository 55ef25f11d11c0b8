# NTC driver against the divider model on the fake ADC's ESP32 curve: accuracy over the
# working range, and open / shorted / saturated / knee-pinned readings as faults.
import machine
from ntc_model import NTCModel

from drivers.ntc import NTC

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

ADC_PIN = 34


def _setup(**model_kw):
    machine.reset_board()
    m = NTCModel(**model_kw).connect(ADC_PIN)
    adc = machine.ADC(machine.Pin(ADC_PIN), atten=machine.ADC.ATTN_11DB)
    return m, adc


def _worst_error_x10(m, ntc, lo_c, hi_c):
    worst = 0
    for c in range(lo_c, hi_c + 1):
        m.temp_c = c + 0.37  # off the integer grid
        c10, fault = ntc.read()
        assert fault is None, (c, fault)
        worst = max(worst, abs(c10 - m.temp_c * 10))
    return worst


def test_working_range_0_to_85_c_within_half_degree_on_the_real_curve():
    m, adc = _setup()
    assert _worst_error_x10(m, NTC(adc), 0, 85) <= 5


def test_measurable_from_minus_20_to_100_c_within_one_degree():
    m, adc = _setup()
    assert _worst_error_x10(m, NTC(adc), -20, 100) <= 10


def test_default_divider_keeps_working_range_inside_the_recommended_adc_range():
    # ESP-IDF: 11 dB is specified over 150-2450 mV; 0 C and 85 C (the stop threshold)
    # must both be inside it with the reference parts.
    m, _ = _setup()
    for c in (0.0, 70.0, 85.0):
        m.temp_c = c
        assert 0.150 < m.volts() < 2.450, (c, m.volts())


def test_other_parts_and_ntc_on_the_supply_side():
    m, adc = _setup(r25_ohm=100000, beta=4250, r_fixed_ohm=47000, ntc_high=True)
    ntc = NTC(adc, r25_ohm=100000, beta=4250, r_fixed_ohm=47000, ntc_high=True)
    assert _worst_error_x10(m, ntc, 0, 85) <= 5


def test_result_is_integer_tenths():
    _, adc = _setup(temp_c=-7.26)
    c10, fault = NTC(adc).read()
    assert fault is None and c10 == -73 and isinstance(c10, int)


def test_open_and_short_are_faults_not_temperatures():
    for high in (False, True):
        m, adc = _setup(ntc_high=high)
        ntc = NTC(adc, ntc_high=high)
        m.fault = "open"
        assert ntc.read() == (None, "open"), high
        m.fault = "short"
        assert ntc.read() == (None, "short"), high
        m.fault = None
        m.temp_c = 40.0
        c10, fault = ntc.read()
        assert fault is None and abs(c10 - 400) <= 5


def test_open_sensor_is_not_read_as_cold_with_the_old_10k_divider():
    # issue 11 item 4: 3.3 V saturates at ~3.13 V, which an ideal-ADC driver took for
    # about -26 C. The saturated reading is a rail: 'open'.
    m, adc = _setup(r_fixed_ohm=10000)
    ntc = NTC(adc, r_fixed_ohm=10000)
    m.fault = "open"
    assert adc.read() == 4095 and 3050000 < adc.read_uv() < 3200000
    assert ntc.read() == (None, "open")


def test_saturated_cold_reading_is_a_fault_not_a_temperature():
    m, adc = _setup()
    ntc = NTC(adc)
    m.temp_c = -35.0  # 3.16 V at the pin: beyond saturation, no temperature in it
    assert adc.read() == 4095
    assert ntc.read() == (None, "open")


def test_knee_pinned_hot_reading_is_a_fault_not_a_temperature():
    m, adc = _setup()
    ntc = NTC(adc)
    m.temp_c = 125.0  # ~0.10 V: below the knee the code is pinned at 0 (reads 142 mV)
    assert adc.read() == 0 and adc.read_uv() == 142000
    assert ntc.read() == (None, "short")


def test_thresholds_70_and_85_c_read_to_half_a_degree():
    m, adc = _setup()
    ntc = NTC(adc)
    for c in (70.0, 85.0, 86.0):
        m.temp_c = c
        c10, fault = ntc.read()
        assert fault is None and abs(c10 - c * 10) <= 5, (c, c10)


def test_out_of_range_resistance_is_a_fault():
    # A lead broken into a high resistance, or a part shorted to a few ohms, with the
    # resistance limits tighter than the rails.
    m, adc = _setup()
    ntc = NTC(adc, r_open_ohm=50000, r_short_ohm=1000)
    m.temp_c = -10.0  # ~58 kOhm
    assert ntc.read() == (None, "open")
    m.temp_c = 90.0  # ~0.9 kOhm
    assert ntc.read() == (None, "short")
