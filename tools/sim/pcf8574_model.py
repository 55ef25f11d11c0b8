# Virtual NXP PCF8574 I2C port expander with a 3x4 keypad on it (MicroPython and CPython).
#
#   chip = PCF8574Model(rows=(0, 1, 2, 3), cols=(4, 5, 6))
#   machine.I2C.attach(0x20, chip)       # it keeps to 100 kHz: faster, no ACK
#   chip.held = {"5"}                      # keys closed now
#
# Quasi-bidirectional pins (datasheet 8.1): a written 1 is a weak pull-up, a written 0
# drives low. A read returns the pin levels: a pin reads 0 when written 0, or when a closed
# key joins it to a row bit written 0. One byte written sets all eight pins.

KEYMAP = "123456789*0#"


class PCF8574Model:
    MAX_HZ = 100000  # PCF8574 datasheet: f_SCL 0-100 kHz (standard mode only)

    def __init__(self, rows=(0, 1, 2, 3), cols=(4, 5, 6), keymap=KEYMAP):
        self.rows = tuple(rows)
        self.cols = tuple(cols)
        self.keymap = keymap
        self.latch = 0xFF  # power-on: all pins released high
        self.held = set()
        self.writes = 0
        self.reads = 0

    def levels(self):
        v = self.latch
        for k in self.held:
            i = self.keymap.index(k)
            r = self.rows[i // len(self.cols)]
            c = self.cols[i % len(self.cols)]
            if not (self.latch >> r) & 1:
                v &= ~(1 << c)
            if not (self.latch >> c) & 1:
                v &= ~(1 << r)
        return v

    # --- the I2C device interface (tools/sim/machine.py) ---
    def write(self, buf):
        self.writes += 1
        if buf:
            self.latch = buf[-1]

    def read(self, n):
        self.reads += 1
        return bytes([self.levels()] * n)
