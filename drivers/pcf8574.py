# PCF8574 I2C 8-bit quasi-bidirectional port expander, with Pin-like objects so a
# driver written for GPIOs (the keypad) runs unchanged behind it.
#
# Quasi-bidirectional: writing 1 releases a pin to a weak pull-up (so it can be read as
# an input, or act as an open-drain high), writing 0 drives it low. One byte written
# sets all eight pins; one byte read returns their levels.


class PCF8574:
    def __init__(self, i2c, addr=0x20):
        self.i2c = i2c
        self.addr = addr
        self._out = bytearray(b"\xff")  # power-on state: all released
        self._in = bytearray(1)
        self.i2c.writeto(addr, self._out)

    def write_bit(self, bit, level):
        old = self._out[0]
        new = old | (1 << bit) if level else old & ~(1 << bit)
        if new != old:
            self._out[0] = new
            self.i2c.writeto(self.addr, self._out)

    def read_bit(self, bit):
        self.i2c.readfrom_into(self.addr, self._in)
        return (self._in[0] >> bit) & 1

    def pin(self, bit):
        return ExpanderPin(self, bit)


class ExpanderPin:
    """The subset of machine.Pin the keypad uses: init(), value()."""

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2

    def __init__(self, chip, bit):
        self.chip = chip
        self.bit = bit

    def init(self, mode=-1, pull=-1, value=None):
        if mode in (self.IN,):
            self.chip.write_bit(self.bit, 1)  # released: reads the line, pulled up
        elif value is not None:
            self.chip.write_bit(self.bit, value)

    def value(self, v=None):
        if v is None:
            return self.chip.read_bit(self.bit)
        self.chip.write_bit(self.bit, v)
        return None
