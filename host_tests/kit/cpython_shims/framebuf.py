"""CPython stand-in for MicroPython's built-in `framebuf` (host tests only).

Only MONO_VLSB, the SSD1306's layout, and only what the firmware and lib/ssd1306.py use:
fill, pixel, hline, vline, line, rect (outline or filled), fill_rect, blit (key and
palette) and text. Clipping, the line algorithm and blit's key-after-palette rule follow
extmod/modframebuf.c, and test_screens_png.py checks that a frame drawn here is the
same, bit for bit, as one drawn by the real module on the unix port.

The 8x8 font is not copied in: the first text() asks the project's MicroPython binary
(.venv/bin/micropython, or $MICROPYTHON) to draw characters 32-127 and keeps the
columns. Without that binary each character is drawn as an outlined box.
"""

import os
import subprocess

MONO_VLSB = 0
MVLSB = 0
RGB565 = 1
GS4_HMSB = 2
MONO_HLSB = 3
MONO_HMSB = 4
GS2_HMSB = 5
GS8 = 6

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
_MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(_ROOT, ".venv", "bin", "micropython"))
_FONT_FIRST = 32
_FONT_LAST = 127
_font = None  # 96 x 8 column bytes once loaded

_DUMP = """
import framebuf, binascii
b = bytearray(8)
f = framebuf.FrameBuffer(b, 8, 8, framebuf.MONO_VLSB)
out = bytearray()
for c in range(32, 128):
    f.fill(0)
    f.text(chr(c), 0, 0, 1)
    out += b
print(binascii.hexlify(out).decode())
"""


def _load_font():
    global _font
    if _font is None:
        try:
            p = subprocess.run([_MICROPYTHON, "-c", _DUMP], check=False, capture_output=True,
                               text=True, timeout=60)
            data = bytes.fromhex(p.stdout.strip()) if p.returncode == 0 else b""
        except (OSError, ValueError, subprocess.TimeoutExpired):
            data = b""
        if len(data) != (_FONT_LAST - _FONT_FIRST + 1) * 8:
            data = bytes([0xFF, 0x81, 0x81, 0x81, 0x81, 0x81, 0xFF, 0x00]) * 96
        _font = data
    return _font


class FrameBuffer:
    def __init__(self, buf, width, height, fmt, stride=None):
        if fmt != MONO_VLSB:
            raise ValueError("this stand-in supports MONO_VLSB only")
        self._buf = buf
        self._w = width
        self._h = height
        self._stride = width if stride is None else stride

    # --- pixels ---
    def _set(self, x, y, c):
        i = (y >> 3) * self._stride + x
        m = 1 << (y & 7)
        if c:
            self._buf[i] |= m
        else:
            self._buf[i] &= ~m & 0xFF

    def _get(self, x, y):
        return (self._buf[(y >> 3) * self._stride + x] >> (y & 7)) & 1

    def pixel(self, x, y, c=None):
        if 0 <= x < self._w and 0 <= y < self._h:
            if c is None:
                return self._get(x, y)
            self._set(x, y, c)
        return None

    # --- rectangles ---
    def fill_rect(self, x, y, w, h, c):
        if h < 1 or w < 1 or x + w <= 0 or y + h <= 0 or y >= self._h or x >= self._w:
            return
        x1 = min(self._w, x + w)
        y1 = min(self._h, y + h)
        x = max(x, 0)
        y = max(y, 0)
        for yy in range(y, y1):
            for xx in range(x, x1):
                self._set(xx, yy, c)

    def fill(self, c):
        self.fill_rect(0, 0, self._w, self._h, c)

    def hline(self, x, y, w, c):
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x, y, h, c):
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
        else:
            self.fill_rect(x, y, w, 1, c)
            self.fill_rect(x, y + h - 1, w, 1, c)
            self.fill_rect(x, y, 1, h, c)
            self.fill_rect(x + w - 1, y, 1, h, c)

    def line(self, x1, y1, x2, y2, c):
        dx = x2 - x1
        sx = 1 if dx > 0 else -1
        dx = abs(dx)
        dy = y2 - y1
        sy = 1 if dy > 0 else -1
        dy = abs(dy)
        steep = dy > dx
        if steep:
            x1, y1, dx, dy, sx, sy = y1, x1, dy, dx, sy, sx
        e = 2 * dy - dx
        for _ in range(dx):
            if steep:
                self.pixel(y1, x1, c)
            else:
                self.pixel(x1, y1, c)
            while e >= 0:
                y1 += sy
                e -= 2 * dx
            x1 += sx
            e += 2 * dy
        self.pixel(x2, y2, c)

    # --- blit and text ---
    def blit(self, src, x, y, key=-1, palette=None):
        if x >= self._w or y >= self._h or -x >= src._w or -y >= src._h:
            return
        for sy in range(max(0, -y), min(src._h, self._h - y)):
            for sx in range(max(0, -x), min(src._w, self._w - x)):
                c = src._get(sx, sy)
                if palette is not None:
                    c = palette._get(c, 0)
                if c != key:
                    self._set(x + sx, y + sy, c)

    def text(self, s, x, y, c=1):
        font = _load_font()
        for ch in s.encode("utf-8"):  # the C code walks the UTF-8 bytes
            if ch < _FONT_FIRST or ch > _FONT_LAST:
                ch = _FONT_LAST
            base = (ch - _FONT_FIRST) * 8
            for j in range(8):
                if 0 <= x < self._w:
                    col = font[base + j]
                    yy = y
                    while col:
                        if col & 1 and 0 <= yy < self._h:
                            self._set(x, yy, c)
                        col >>= 1
                        yy += 1
                x += 1
