# Port relay banks: relay coils on GPIO pins, or on a chain of 74HC595 shift registers.
#
# Both backends switch every relay off in the constructor before doing anything else, and
# do it without a glitch: an output pin is configured with its "off" level in the same
# Pin.init() call that makes it an output (the ESP32 port sets the level before enabling
# the driver), and a 595 chain is loaded with "all off" before /OE enables its outputs.
#
# 595 bit order: relay i is output Q(i % 8) of chip i // 8, chip 0 being the one whose SER
# input the MCU drives. Bits go out MSB first, far chip first, so the last byte shifted
# stays in chip 0 and bit 7 of each byte lands on Q7.
#
# Before this code runs (reset, boot ROM) every GPIO floats as an input: the board must
# hold each relay driver input at its off level with a resistor, and pull /OE of a 595
# chain high. Construct the bank first thing in boot.py.
#
# `mask` and get() report what was commanded (bit i = relay i on), never contact state:
# a welded contact is found by the meter, not here.

from micropython import const

_BITS_PER_CHIP = const(8)  # 74HC595: 8-bit shift register + 8-bit storage register


class _Bank:
    def __init__(self, n, active_low):
        self.n = n
        self.active_low = bool(active_low)
        self.mask = 0

    def __len__(self):
        return self.n

    def _check(self, i):
        if not 0 <= i < self.n:
            raise IndexError("relay index")

    def get(self, i):
        """True when relay i is commanded on."""
        self._check(i)
        return bool((self.mask >> i) & 1)

    def set(self, i, on):
        """Command relay i on or off (no output change when already so)."""
        self._check(i)
        m = self.mask | (1 << i) if on else self.mask & ~(1 << i)
        if m != self.mask:
            self.mask = m
            self._write(i)

    def all_off(self):
        """Command every relay off; rewrites the outputs even if they look off already."""
        self.mask = 0
        self._write(-1)

    def _write(self, i):  # each bank drives its outputs from self.mask
        raise NotImplementedError


class PinRelays(_Bank):
    """One relay per GPIO. Pass Pins not yet configured as outputs (e.g. Pin(16)):
    the constructor makes them outputs at their off level."""

    def __init__(self, pins, active_low=False):
        _Bank.__init__(self, len(pins), active_low)
        self._pins = list(pins)
        off = 1 if self.active_low else 0
        for p in self._pins:
            p.init(p.OUT, value=off)

    def _write(self, i):
        inv = 1 if self.active_low else 0
        if i >= 0:
            self._pins[i].value(((self.mask >> i) & 1) ^ inv)
            return
        for k in range(self.n):
            self._pins[k].value(((self.mask >> k) & 1) ^ inv)


class HC595Relays(_Bank):
    """n relays on a 74HC595 chain. latch: RCLK Pin (storage register loads on its
    rising edge; idle high, low while shifting, so it can double as a chip select).
    Either spi (SCK -> SRCLK, MOSI -> SER, MSB first, any mode that samples on the
    rising edge) or data + clk Pins (bit-banged). oe: optional /OE Pin, held high
    (outputs off) until the chain holds all-off; pull it up on the board."""

    def __init__(self, n, latch, spi=None, data=None, clk=None, oe=None, active_low=False):
        _Bank.__init__(self, n, active_low)
        if spi is None and (data is None or clk is None):
            raise ValueError("need spi, or data and clk pins")
        self._oe = oe
        if oe is not None:
            oe.init(oe.OUT, value=1)
        self._latch = latch
        latch.init(latch.OUT, value=0)  # no rising edge before the chain holds all-off
        self._spi = spi
        self._data = data
        self._clk = clk
        if spi is None:
            data.init(data.OUT, value=0)
            clk.init(clk.OUT, value=0)
        self.chips = (n + _BITS_PER_CHIP - 1) // _BITS_PER_CHIP
        self._buf = bytearray(self.chips)
        self._write(-1)
        if oe is not None:
            oe.value(0)

    def _write(self, i):
        buf = self._buf
        inv = 0xFF if self.active_low else 0
        last = self.chips - 1
        for k in range(self.chips):
            buf[last - k] = ((self.mask >> (k * _BITS_PER_CHIP)) & 0xFF) ^ inv
        self._latch.value(0)
        if self._spi is not None:
            self._spi.write(buf)
        else:
            data = self._data
            clk = self._clk
            for byte in buf:
                for b in range(7, -1, -1):
                    data.value((byte >> b) & 1)
                    clk.value(1)
                    clk.value(0)
        self._latch.value(1)
