# Virtual SSD1306 128x64 OLED on the virtual I2C bus (MicroPython and CPython).
#
#   oled = OledModel()
#   machine.I2C.attach(0x3C, oled)
#   drv = ssd1306.SSD1306_I2C(128, 64, machine.I2C(0))   # the real driver
#   ... png.write("screen.png", oled.image(), 128, 64, scale=4)
#
# It decodes what the driver sends, as the chip does (datasheet 8.1.5, 10): each I2C
# write starts with a control byte - Co (bit 7) set means one byte follows and then
# another control byte, Co clear means the rest of the write is all commands (D/C# = 0)
# or all display data (D/C# = 1, bit 6). Commands and their argument bytes may come in
# separate writes, as ssd1306.py sends them. Data goes into the 1 KB GDDRAM at the
# column/page pointers under the addressing mode set by 0x20 (horizontal, vertical,
# page), wrapping inside the windows set by 0x21/0x22 as the chip does.
#
# Bus time is the fake I2C's (tools/sim/machine.py): address byte plus payload at 9 bits a
# byte (8 data + ACK), plus start and stop, at the bus frequency. The SSD1306 follows SCL
# up to 400 kHz (datasheet 13, I2C clock cycle time >= 2.5 us): faster, it does not ACK.

from vclock import CLOCK

W = 128
H = 64
PAGES = H // 8

# Commands with argument bytes (datasheet 9): command -> number of argument bytes
_ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0x81: 1,
         0x8D: 1, 0xA3: 2, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1}
HORIZONTAL = 0
VERTICAL = 1
PAGE = 2


_KEEP_COMMANDS = 512  # the most recent commands kept for tests


class OledModel:
    MAX_HZ = 400000  # SSD1306 datasheet: I2C clock cycle >= 2.5 us

    def __init__(self, clock=CLOCK):
        self.clock = clock
        self.ram = bytearray(W * PAGES)  # GDDRAM, MONO_VLSB like the driver's buffer
        self.mode = PAGE  # the chip's reset state
        self.col0, self.col1 = 0, W - 1
        self.page0, self.page1 = 0, PAGES - 1
        self.col = 0
        self.page = 0
        self.on = False
        self.inverted = False
        self.entire_on = False
        self.contrast = 0x7F
        self.seg_remap = False
        self.com_reverse = False
        self.start_line = 0
        self.charge_pump = False
        self._cmd = None  # a command waiting for its arguments
        self._args = []
        self.writes = 0  # I2C write transactions
        self.data_bytes = 0  # GDDRAM bytes written
        self.commands = []  # every complete command, as a tuple of bytes

    # --- the I2C device interface (tools/sim/machine.py) ---
    def write(self, buf):
        self.writes += 1
        i = 0
        n = len(buf)
        while i < n:
            ctrl = buf[i]
            i += 1
            data = ctrl & 0x40
            end = i + 1 if ctrl & 0x80 else n  # Co: one byte, then another control byte
            if data and end - i > 1 and self.mode == HORIZONTAL:
                self._data_run(buf, i, min(end, n))
                i = end
                continue
            for k in range(i, min(end, n)):
                if data:
                    self._data(buf[k])
                else:
                    self._command_byte(buf[k])
            i = end

    def read(self, n):
        # SSD1306 status read: bit 6 = display off
        return bytes([0x00 if self.on else 0x40]) * n

    # --- commands ---
    def _command_byte(self, b):
        if self._cmd is not None:
            self._args.append(b)
            if len(self._args) == _ARGS[self._cmd]:
                self._run(self._cmd, self._args)
                self._cmd = None
            return
        if b in _ARGS:
            self._cmd = b
            self._args = []
        else:
            self._run(b, ())

    def _run(self, c, a):
        self.commands.append((c,) + tuple(a))
        if len(self.commands) > _KEEP_COMMANDS:  # a long simulation must not grow forever
            del self.commands[:_KEEP_COMMANDS // 2]
        if c == 0x20:
            self.mode = a[0] & 3
        elif c == 0x21:
            self.col0, self.col1 = a[0] & 0x7F, a[1] & 0x7F
            self.col = self.col0
        elif c == 0x22:
            self.page0, self.page1 = a[0] & 7, a[1] & 7
            self.page = self.page0
        elif c == 0x81:
            self.contrast = a[0]
        elif c == 0x8D:
            self.charge_pump = bool(a[0] & 0x04)
        elif c in (0xAE, 0xAF):
            self.on = c == 0xAF
        elif c in (0xA6, 0xA7):
            self.inverted = c == 0xA7
        elif c in (0xA4, 0xA5):
            self.entire_on = c == 0xA5
        elif c in (0xA0, 0xA1):
            self.seg_remap = c == 0xA1
        elif c in (0xC0, 0xC8):
            self.com_reverse = c == 0xC8
        elif 0x40 <= c <= 0x7F:
            self.start_line = c & 0x3F
        elif 0xB0 <= c <= 0xB7:  # page mode: page start
            self.page = c & 7
        elif c <= 0x0F:  # page mode: column start, low nibble
            self.col = (self.col & 0xF0) | c
        elif c <= 0x1F:  # page mode: column start, high nibble
            self.col = (self.col & 0x0F) | ((c & 0x0F) << 4)

    # --- display data ---
    def _data_run(self, buf, i, end):
        """Horizontal addressing: copy whole runs of a page at once (same as _data)."""
        while i < end:
            take = min(end - i, self.col1 - self.col + 1)
            o = self.page * W + self.col
            self.ram[o:o + take] = buf[i:i + take]
            self.data_bytes += take
            i += take
            self.col += take
            if self.col > self.col1:
                self.col = self.col0
                self.page = self.page0 if self.page >= self.page1 else self.page + 1

    def _data(self, b):
        self.ram[self.page * W + self.col] = b
        self.data_bytes += 1
        if self.mode == HORIZONTAL:
            if self.col >= self.col1:
                self.col = self.col0
                self.page = self.page0 if self.page >= self.page1 else self.page + 1
            else:
                self.col += 1
        elif self.mode == VERTICAL:
            if self.page >= self.page1:
                self.page = self.page0
                self.col = self.col0 if self.col >= self.col1 else self.col + 1
            else:
                self.page += 1
        else:  # page mode: the column wraps, the page stays
            self.col = 0 if self.col >= W - 1 else self.col + 1

    # --- what a person sees ---
    def image(self):
        """The glass as a 128x64 MONO_VLSB buffer (1 = lit), as mounted with ssd1306.py's
        settings (segment remap and reversed COM scan): blank while the panel is off."""
        out = bytearray(W * PAGES)
        if not self.on:
            return out
        if self.entire_on:
            return bytearray(b"\xff" * (W * PAGES))
        ram = self.ram
        for y in range(H):
            row = (y + self.start_line) % H  # RAM row scanned for this display row
            if not self.com_reverse:
                row = H - 1 - row
            src = (row >> 3) * W
            sbit = row & 7
            dst = (y >> 3) * W
            dbit = 1 << (y & 7)
            for x in range(W):
                col = x if self.seg_remap else W - 1 - x
                lit = (ram[src + col] >> sbit) & 1
                if lit != self.inverted:
                    out[dst + x] |= dbit
        return out
