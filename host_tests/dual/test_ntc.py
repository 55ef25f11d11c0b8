# NTC driver against the divider model: accuracy over -20..100 C, faults as faults.
import machine
from ntc_model import NTCModel

from drivers.ntc import NTC

ADC_PIN = 34


def _setup(**model_kw):
    machine.reset_board()
    m = NTCModel(**model_kw).connect(ADC_PIN)
    adc = machine.ADC(machine.Pin(ADC_PIN), atten=machine.ADC.ATTN_11DB)
    return m, adc


def _worst_error_x10(m, ntc):
    worst = 0
    for c in range(-20, 101):
        m.temp_c = c + 0.37  # off the integer grid
        c10, fault = ntc.read()
        assert fault is None, (c, fault)
        worst = max(worst, abs(c10 - m.temp_c * 10))
    return worst


def test_accuracy_within_half_degree_microvolt_reads():
    m, adc = _setup()
    assert _worst_error_x10(m, NTC(adc)) <= 5


def test_accuracy_within_half_degree_12_bit_reads():
    m, adc = _setup()
    assert _worst_error_x10(m, NTC(adc, fs_mv=3300)) <= 5  # sim full scale at 11 dB


def test_accuracy_other_parts_and_ntc_on_the_supply_side():
    m, adc = _setup(r25_ohm=100000, beta=4250, r_fixed_ohm=47000, ntc_high=True)
    ntc = NTC(adc, r25_ohm=100000, beta=4250, r_fixed_ohm=47000, ntc_high=True,
              fs_mv=3300)
    assert _worst_error_x10(m, ntc) <= 5


def test_result_is_integer_tenths():
    _, adc = _setup(temp_c=-7.26)
    c10, fault = NTC(adc).read()
    assert fault is None and c10 == -73 and isinstance(c10, int)


def test_open_and_short_are_faults_not_temperatures():
    for high in (False, True):
        m, adc = _setup(ntc_high=high)
        ntc = NTC(adc, ntc_high=high, fs_mv=3300)
        m.fault = "open"
        assert ntc.read() == (None, "open")
        m.fault = "short"
        assert ntc.read() == (None, "short")
        m.fault = None
        m.temp_c = 40.0
        c10, fault = ntc.read()
        assert fault is None and abs(c10 - 400) <= 5


def test_out_of_range_resistance_is_a_fault():
    # A lead broken into a high resistance, or a part shorted to a few ohms.
    m, adc = _setup()
    ntc = NTC(adc)
    m.temp_c = -60.0  # 10k B3950 at -60 C is ~800 kOhm: beyond r_open (500 kOhm)
    assert ntc.read() == (None, "open")
    m.temp_c = 170.0  # ~120 Ohm: below r_short (200 Ohm)
    assert ntc.read() == (None, "short")
