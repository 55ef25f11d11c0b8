# The virtual board's clock and fake machine behave like the ESP32's.
import machine
from vclock import CLOCK, VClock

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


class _Counter:
    """A source that emits one byte per byte-time, counting up."""

    def __init__(self):
        self.n = 0

    def bytes_between(self, t0_us, t1_us, uart, out):
        k0 = t0_us // uart.byte_us
        k1 = t1_us // uart.byte_us
        for k in range(k0, k1):
            out.append(k & 0xFF)


def test_ticks_start_near_wrap_and_cross_it():
    c = VClock()
    t0 = c.ticks_ms()
    assert t0 == (1 << 30) - 600000
    c.advance_ms(600001)
    t1 = c.ticks_ms()
    assert t1 == 1  # wrapped in the eleventh minute
    assert c.ticks_diff(t1, t0) == 600001
    assert c.ticks_add(t0, 600001) == t1
    assert c.ticks_diff(t0, t1) == -600001


def test_uart_byte_timing_4800_8e1():
    machine.reset_board()
    u = machine.UART(1, baudrate=4800, bits=8, parity=0, stop=1, tx=4, rx=12, rxbuf=256)
    assert u.byte_us == 2291  # 11 bits at 4800 baud
    u.source = _Counter()
    start = CLOCK.us
    CLOCK.advance_ms(55)  # one 24-byte HLW8032 frame on the wire
    n = u.any()
    assert 23 <= n <= 25, n
    CLOCK.us = start + 1000000  # a second later the 256-byte FIFO has overflowed
    assert u.any() == 256
    assert u.overruns > 0


def test_output_pins_notify_watchers_and_inputs_are_driven():
    machine.reset_board()
    seen = []
    machine.Pin.watch(5, lambda pid, v: seen.append((pid, v)))
    p = machine.Pin(5, machine.Pin.OUT, value=0)
    p.on()
    p.on()
    p.off()
    assert seen == [(5, 1), (5, 0)]
    q = machine.Pin(34, machine.Pin.IN, machine.Pin.PULL_UP)
    assert q.value() == 1
    machine.Pin.drive(34, 0)
    assert q.value() == 0


def test_adc_samples_take_time_and_clip():
    machine.reset_board()
    machine.ADC.connect(36, lambda t_us: 5.0)
    a = machine.ADC(machine.Pin(36), atten=machine.ADC.ATTN_11DB)
    t = CLOCK.us
    assert a.read() == 4095
    assert CLOCK.us - t == machine.ADC.SAMPLE_US


def test_wdt_bites_when_not_fed():
    w = machine.WDT(timeout=2000)
    CLOCK.advance_ms(1500)
    w.feed()
    assert not w.expired()
    CLOCK.advance_ms(2500)
    assert w.expired()
