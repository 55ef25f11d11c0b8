# Fake `machine` module for the virtual board (MicroPython unix port and CPython).
#
# Put tools/sim first on sys.path and `import machine` gets this module instead of the
# built-in one, so the drivers and main.py run unchanged. Everything runs on the virtual
# clock vclock.CLOCK; peripherals are wired to physical models through small hooks:
#   Pin.watch(id, fn)       fn(id, level) after an output pin changes
#   Pin.drive(id, level)    the outside world sets an input pin's level
#   UART.source             object with bytes_between(t0_us, t1_us, byte_us, out)
#                           (may be swapped by a multiplexer model)
#   ADC.connect(id, fn)     fn(t_us) -> volts at the pin
#   I2C.attach(addr, dev)   dev.write(buf) / dev.read(n)
#   SPI.attach(cs_id, dev)  dev.transfer(bytes) -> bytes, while that CS pin is low

import esp32_adc
from vclock import CLOCK

_pins = {}  # id -> Pin
_levels = {}  # id -> level driven from outside (inputs)
_watchers = {}  # id -> [fn]


def reset_board():
    """Forget every pin, source and attached device (a fresh virtual board)."""
    _pins.clear()
    _levels.clear()
    _watchers.clear()
    ADC._sources.clear()
    I2C._devices.clear()
    I2C._max_hz.clear()
    SPI._devices.clear()
    SPI._max_hz.clear()
    UART._sources.clear()
    WDT.last = None


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        self.id = id
        self.mode = Pin.IN
        self.pull = None
        self._out = 0
        self.writes = 0  # output changes, for tests of glitch-free switching
        _pins[id] = self
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.mode in (Pin.OUT, Pin.OPEN_DRAIN) and self.id not in _levels:
                return self._out
            if self.id in _levels:
                return _levels[self.id]
            return 1 if self.pull == Pin.PULL_UP else 0
        v = 1 if v else 0
        if v != self._out:
            self._out = v
            self.writes += 1
            for fn in _watchers.get(self.id, ()):
                fn(self.id, v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, **kw):
        self._irq = (handler, trigger)

    # --- board hooks ---
    @staticmethod
    def watch(id, fn):
        _watchers.setdefault(id, []).append(fn)

    @staticmethod
    def drive(id, level):
        _levels[id] = 1 if level else 0

    @staticmethod
    def release(id):
        _levels.pop(id, None)

    @staticmethod
    def level(id):
        """The level an output pin is driving (0 when never created or set)."""
        p = _pins.get(id)
        return p._out if p is not None else 0


class Signal:
    def __init__(self, pin, invert=False):
        self.pin = pin
        self.invert = invert

    def value(self, v=None):
        if v is None:
            return self.pin.value() ^ self.invert
        self.pin.value((1 if v else 0) ^ self.invert)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class UART:
    """Receive side with real byte timing: a byte is readable once its stop bit is in.

    Pins as a hostile WROOM board sees them: a UART made without tx= and rx= would take
    the port's defaults (ports/esp32/machine_uart.h: UART1 TX 10 / RX 9, the module's
    SPI flash; UART2 TX 17 / RX 16), so construction without both is refused; a flash pin
    (6-11) is refused, and so is an input-only pin (34-39) as TX (ESP-IDF uart_set_pin
    rejects a TX that cannot output).
    """

    _sources = {}  # uart id -> source object (set by the board before or after creation)
    INV_TX = 1
    INV_RX = 2
    DEFAULT_PINS = {0: (1, 3), 1: (10, 9), 2: (17, 16)}  # id -> (tx, rx), machine_uart.h

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, **kw):
        self.id = id
        self.fifo = bytearray()
        self.overruns = 0
        self.written = bytearray()
        self._last_us = CLOCK.us
        self._tx_free_us = 0  # when the TX line is free again
        self.tx = None
        self.rx = None
        self.init(baudrate, bits, parity, stop, **kw)
        if self.tx is None or self.rx is None:
            tx, rx = UART.DEFAULT_PINS.get(id, (None, None))
            raise ValueError("UART(%r) without explicit tx= and rx= takes the defaults TX %s"
                             " / RX %s; pass both" % (id, tx, rx))

    def init(self, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
             timeout=0, timeout_char=0, rxbuf=256, **kw):
        for name, g in (("tx", tx), ("rx", rx)):
            if g is not None and 6 <= g <= 11:
                raise ValueError("UART %s=%d is an SPI flash pin on a WROOM module" % (name, g))
        if tx is not None and 34 <= tx <= 39:
            raise ValueError("UART tx=%d is an input-only pin" % tx)
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        if tx is not None:  # as the port: init() without pins keeps the pins it had
            self.tx = tx
        if rx is not None:
            self.rx = rx
        self.timeout = timeout
        self.rxbuf = rxbuf
        nbits = 1 + bits + (0 if parity is None else 1) + stop
        self.byte_us = nbits * 1000000 // baudrate
        self.line = (baudrate, bits, parity, stop)
        self._pump()

    def deinit(self):
        self.fifo = bytearray()

    @property
    def source(self):
        return UART._sources.get(self.id)

    @source.setter
    def source(self, src):
        self._pump()
        UART._sources[self.id] = src

    def _pump(self):
        now = CLOCK.us
        src = UART._sources.get(self.id)
        if src is not None and now > self._last_us:
            got = bytearray()
            src.bytes_between(self._last_us, now, self, got)
            room = self.rxbuf - len(self.fifo)
            if len(got) > room:
                self.overruns += len(got) - max(room, 0)
                got = got[:max(room, 0)]
            self.fifo.extend(got)
        self._last_us = now

    def _wait(self, n):
        # A blocking read waits up to `timeout` ms of virtual time for n bytes.
        if self.timeout <= 0:
            return
        deadline = CLOCK.us + self.timeout * 1000
        while len(self.fifo) < n and CLOCK.us < deadline:
            CLOCK.us = min(deadline, CLOCK.us + self.byte_us)
            self._pump()

    def any(self):
        self._pump()
        return len(self.fifo)

    def read(self, n=None):
        self._pump()
        if n is None:
            n = len(self.fifo)
        self._wait(n)
        if not self.fifo:
            return None
        out = bytes(self.fifo[:n])
        self.fifo[0:n] = b""  # MicroPython bytearrays have no item deletion
        return out

    def readinto(self, buf, n=None):
        self._pump()
        if n is None:
            n = len(buf)
        self._wait(n)
        k = min(n, len(self.fifo), len(buf))
        if k == 0:
            return None
        buf[:k] = self.fifo[:k]
        self.fifo[0:k] = b""
        return k

    def write(self, buf):
        """Queue bytes on TX: they go out back to back at the line rate from now (or
        after what is still being sent), and reach the source (a chip, or rxmux.RxMux
        passing them to the selected channel) with the start time of the first byte."""
        self._pump()
        self.written.extend(buf)
        start = max(CLOCK.us, self._tx_free_us)
        self._tx_free_us = start + self.byte_us * len(buf)
        src = UART._sources.get(self.id)
        if src is not None and hasattr(src, "tx_bytes"):
            src.tx_bytes(bytes(buf), start, self)
            if len(self.written) > 1024:  # a chip polled for days: keep the recent bytes
                self.written[0:len(self.written) - 256] = b""
        CLOCK.us += self.byte_us * len(buf) if self.timeout else 0
        return len(buf)

    def flush(self):
        pass

    def txdone(self):
        return True


class ADC:
    """The ESP32's ADC1/ADC2 as MicroPython's esp32 port presents them (12 bits, one-shot).

    The transfer curve (knee, 12-bit codes, saturation near 3.1 V at 11 dB) and read_uv's
    calibration are tools/sim/esp32_adc.py's, from ESP-IDF and the port's source.
    What the port returns (ports/esp32/machine_adc.c, adc.c):
      read()     the raw code, 0-4095 at the default 12-bit width
      read_u16() raw << 4 | raw >> 8 (4095 -> 65535), no calibration
      read_uv()  adc_cali_raw_to_voltage(raw) in whole mV, times 1000: calibrated, but
                 pinned at 142000 below the knee and ~3134000 when saturated (11 dB).
    The default attenuation is 11 dB (ADC_ATTEN_MAX); only ADC pins are accepted; an
    ADC2 pin (GPIO 0, 2, 4, 12-15, 25-27) cannot be read while Wi-Fi is active.
    """

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9  # the esp32 port's width constants are the bit counts
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12
    SAMPLE_US = 40  # one Python-loop ADC read on the ESP32 (about 25 k samples/s)
    FULL_CODE = esp32_adc.FULL_CODE
    # ports/esp32/machine_adc.c madc_obj: the ESP32's ADC-capable GPIOs
    ADC1_PINS = (36, 37, 38, 39, 32, 33, 34, 35)
    ADC2_PINS = (4, 0, 2, 15, 13, 12, 14, 27, 25, 26)
    _sources = {}  # pin id -> fn(t_us) -> volts

    def __init__(self, pin, atten=-1, **kw):
        self.pin_id = pin.id if isinstance(pin, Pin) else pin
        if self.pin_id not in ADC.ADC1_PINS and self.pin_id not in ADC.ADC2_PINS:
            raise ValueError("invalid pin")  # as the port: not an ADC channel
        self.reads = 0
        self.atten(ADC.ATTN_11DB if atten == -1 else atten)

    def atten(self, a):
        if a not in (0, 1, 2, 3):
            raise ValueError("invalid attenuation")
        self._atten = a
        self._curve = esp32_adc.Curve(a)

    def width(self, w):
        if w != 12:
            raise ValueError("invalid bit-width")  # only 12 bits are modelled

    def calibrated_mv(self, raw):
        """adc_cali_raw_to_voltage for this attenuation (whole millivolts)."""
        return self._curve.calibrated_mv(raw)

    def code_of(self, volts):
        """The 12-bit code a pin at `volts` converts to (knee, curve, saturation)."""
        return self._curve.code_of(volts)

    def _raw(self):
        CLOCK.us += ADC.SAMPLE_US
        self.reads += 1
        if self.pin_id in ADC.ADC2_PINS and _wifi_on():
            # ESP-IDF: Wi-Fi owns ADC2; adc_oneshot_read gives ESP_ERR_TIMEOUT, which the
            # port raises as OSError(ETIMEDOUT)
            raise OSError(116)
        fn = ADC._sources.get(self.pin_id)
        return self._curve.code_of(fn(CLOCK.us) if fn is not None else 0.0)

    def read(self):
        return self._raw()

    def read_u16(self):
        raw = self._raw()
        return raw << 4 | raw >> 8  # machine_adc.c: 12 bits scaled to 16

    def read_uv(self):
        return self._curve.calibrated_mv(self._raw()) * 1000  # adc.c: whole mV times 1000

    @staticmethod
    def connect(pin_id, fn):
        ADC._sources[pin_id] = fn


def _wifi_on():
    """Is a Wi-Fi interface of the fake network module active?"""
    import sys

    net = sys.modules.get("network")
    for iface in getattr(net, "_ifaces", {}).values():
        try:
            if iface.active():
                return True
        except Exception:  # noqa: BLE001 - an interface without active(): not Wi-Fi
            pass
    return False


class I2C:
    """I2C master with bus timing and each device's datasheet speed limit.

    A transaction takes (address + payload bytes) x 9 bits (8 data + ACK) plus start and
    stop at the bus frequency, on the virtual clock. A device clocked above its maximum
    SCL frequency (attach(..., max_hz) or the device's MAX_HZ) cannot follow the bus and
    does not ACK its address: the call raises OSError(ENODEV) as the esp32 port does for
    a NACK (ports/esp32/machine_i2c.c maps ESP_FAIL to -MP_ENODEV), and scan() misses it.
    """

    _devices = {}  # addr -> device
    _max_hz = {}  # addr -> datasheet maximum SCL frequency (absent: no limit modelled)
    START_STOP_BITS = 2

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, **kw):
        self.freq = freq
        self.naks = 0  # transactions a device did not acknowledge
        self.bus_us = 0  # time spent on the bus

    def _bus(self, nbytes):
        us = ((nbytes + 1) * 9 + I2C.START_STOP_BITS) * 1000000 // self.freq
        CLOCK.us += us
        self.bus_us += us

    def _acks(self, addr):
        mx = I2C._max_hz.get(addr)
        return addr in I2C._devices and (mx is None or self.freq <= mx)

    def scan(self):
        found = []
        for addr in sorted(I2C._devices):
            self._bus(0)
            if self._acks(addr):
                found.append(addr)
        return found

    def _dev(self, addr, nbytes):
        if not self._acks(addr):
            self._bus(0)  # the address byte, then stop
            self.naks += 1
            raise OSError(19)  # ENODEV: no ACK
        self._bus(nbytes)
        return I2C._devices[addr]

    def writeto(self, addr, buf, stop=True):
        self._dev(addr, len(buf)).write(bytes(buf))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        self._dev(addr, len(data)).write(data)
        return len(data)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._dev(addr, len(buf)).read(len(buf))
        buf[:len(data)] = data

    def readfrom(self, addr, n, stop=True):
        return bytes(self._dev(addr, n).read(n))

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr, 1 + len(buf)).write(bytes([memaddr]) + bytes(buf))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        d = self._dev(addr, 1)
        d.write(bytes([memaddr]))
        self._bus(len(buf))  # repeated start, address, data
        data = d.read(len(buf))
        buf[:len(data)] = data

    @staticmethod
    def attach(addr, dev, max_hz=None):
        I2C._devices[addr] = dev
        mx = max_hz if max_hz is not None else getattr(dev, "MAX_HZ", None)
        if mx is None:
            I2C._max_hz.pop(addr, None)
        else:
            I2C._max_hz[addr] = mx


SoftI2C = I2C


class SPI:
    """SPI master; the device whose chip select is low answers.

    A device clocked above its maximum SCK frequency (attach(..., max_hz) or the
    device's MAX_HZ) cannot sample MOSI nor drive MISO in time: it receives nothing and
    MISO reads garbage (0xFF, the line's idle level on the modules), so a driver's
    identity check fails.
    """

    MSB = 0
    LSB = 1
    _devices = {}  # cs pin id -> device
    _max_hz = {}  # cs pin id -> datasheet maximum SCK frequency

    def __init__(self, id=1, baudrate=1000000, polarity=0, phase=0, **kw):
        self.baudrate = baudrate
        self.garbled = 0  # transfers clocked too fast for the selected device

    def init(self, baudrate=1000000, **kw):
        self.baudrate = baudrate

    def deinit(self):
        pass

    def _xfer(self, tx):
        # rounded up: at 8 MHz and above a byte is under 1 us, and zero time would let a
        # driver's wait on the clock spin forever
        CLOCK.us += (len(tx) * 8 * 1000000 + self.baudrate - 1) // self.baudrate
        for cs, dev in SPI._devices.items():
            p = _pins.get(cs)
            if p is not None and p._out == 0:
                mx = SPI._max_hz.get(cs)
                if mx is not None and self.baudrate > mx:
                    self.garbled += 1
                    return b"\xff" * len(tx)
                return bytes(dev.transfer(bytes(tx)))
        return bytes(len(tx))  # nobody selected: MISO idles low here

    def write(self, buf):
        self._xfer(buf)

    def read(self, n, write=0):
        return self._xfer(bytes([write]) * n)

    def readinto(self, buf, write=0):
        data = self._xfer(bytes([write]) * len(buf))
        buf[:] = data

    def write_readinto(self, wbuf, rbuf):
        data = self._xfer(wbuf)
        rbuf[:len(data)] = data

    @staticmethod
    def attach(cs_pin_id, dev, max_hz=None):
        SPI._devices[cs_pin_id] = dev
        mx = max_hz if max_hz is not None else getattr(dev, "MAX_HZ", None)
        if mx is None:
            SPI._max_hz.pop(cs_pin_id, None)
        else:
            SPI._max_hz[cs_pin_id] = mx


SoftSPI = SPI


class WDT:
    """Hardware watchdog on virtual time. `expired()` tells whether it would have bitten."""

    last = None

    def __init__(self, id=0, timeout=5000):
        if timeout < 1000:
            raise ValueError("WDT timeout below the ESP32's 1 s minimum")
        self.timeout = timeout
        self.fed_us = CLOCK.us
        self.worst_gap_ms = 0
        WDT.last = self

    def feed(self):
        gap_ms = (CLOCK.us - self.fed_us) // 1000
        if gap_ms > self.worst_gap_ms:
            self.worst_gap_ms = gap_ms
        self.fed_us = CLOCK.us

    def expired(self):
        return CLOCK.us - self.fed_us > self.timeout * 1000 or self.worst_gap_ms > self.timeout


class RTC:
    """Wall clock on the virtual clock; setting it moves the epoch, not the ticks."""

    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        if dt is None:
            y, mo, d, h, mi, s, wd = _civil_of(CLOCK.time())
            return (y, mo, d, wd, h, mi, s, 0)
        y, mo, d, wd, h, mi, s = dt[:7]
        CLOCK.epoch0 += _epoch_of(y, mo, d, h, mi, s) - CLOCK.time()


def _civil_of(epoch):
    days, rem = divmod(epoch, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    mo = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if mo <= 2 else 0)
    wd = (days + 3) % 7  # Monday = 0, as MicroPython
    return y, mo, d, rem // 3600, rem // 60 % 60, rem % 60, wd


def _epoch_of(y, mo, d, h, mi, s):
    # days from civil (proleptic Gregorian), no time-zone library needed
    y2 = y - (mo <= 2)
    era = y2 // 400
    yoe = y2 - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + s


_reset_requested = 0


def reset():
    global _reset_requested
    _reset_requested += 1
    raise SystemExit("machine.reset")


def soft_reset():
    reset()


# Reset causes: the esp32 port's values (ports/esp32/modmachine.c: MP_PWRON_RESET 1,
# MP_HARD_RESET 2, MP_WDT_RESET 3, MP_DEEPSLEEP_RESET 4, MP_SOFT_RESET 5).
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_CAUSE = [PWRON_RESET]  # what the next reset_cause() reports; the rig sets [0]


def reset_cause():
    return RESET_CAUSE[0]


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def freq(f=None):
    return 240000000


def idle():
    CLOCK.us += 1000


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
