# The cabinet's 128x64 OLED screens, drawn with mixed 8x8 / 16x16 text. Getting a frame
# to the panel without blocking is firmware/panel/display.py; the buzzer is firmware/panel/beeper.py
# (both importable from here).
#
#   ui = Ui(oled, lang=cfg["lang"], qr=cfg["qr"])   # oled: lib/ssd1306.SSD1306_I2C
#   disp = Display(oled, ui, clock)
#   disp.show(ui_text.SESSION, (port, elapsed_s, mwh, fen, limit, state))  # when it changes
#   disp.step()                                     # every control tick
#   ui.draw(screen, params)                         # or draw directly (tests, captures)
#
# Screens and their params (ports 0-based here, shown 1-based; states are codes.py's):
#   idle     (cabinet_id, free, total, minute_of_day or None)
#   grid     (states,)                       one cell per port, up to 16
#   choose   (digits, states, error_key or None)
#   confirm  (port,)          auth (port,)
#   session  (port, elapsed_s, mwh, fen, limit dict, state)
#   alarm    (code, port or None)
#   msg      (key, port or None)             key: ui_text message key or refusal code
#   qr       (cabinet_id,)                   the matrix comes from config `qr`
#
# Text: ASCII uses framebuf's built-in 8x8 font, anything else a 16x16 Unifont glyph from
# lib/glyphs_zh.py (built by tools/glyphs.py); a character without a glyph is drawn as a
# '?' box. A text row is 16 px high; ASCII sits in its lower 8 px, on the glyphs' baseline
# and inside one display page, so a changing number costs one page on the bus.

import framebuf
from micropython import const

from firmware.core import codes
from firmware.panel import ui_text as T
from firmware.panel.beeper import PATTERNS, Beeper  # noqa: F401 - part of this module's API
from firmware.panel.display import Display  # noqa: F401 - part of this module's API

try:
    import glyphs_zh as _G
except ImportError:  # not built: every non-ASCII character becomes a '?' box
    _G = None

_W = const(128)
_H = const(64)
_ROW_H = const(16)  # a text row: one 16x16 glyph, or 8x8 ASCII centred in it
_ASCII_W = const(8)
_ASCII_H = const(8)
_WIDE_W = const(16)
_ASCII_DY = const(8)  # on the glyphs' baseline, and within one 8-row page
_EN_PITCH = const(10)  # an ASCII-only line of a message: 8 px and a 2 px gap
_GLYPH_BYTES = const(32)
_DIGIT_ADV = const(7)
_GRID_TOP = const(16)
_CELL_H = const(24)
_QR_BOX = const(64)  # the QR gets the left 64x64
_QR_QUIET_MAX = const(4)  # modules of quiet zone the QR spec asks for
_QR_QUIET_MIN = const(2)  # never fewer (phone readers manage 2)

_BUSY = (codes.OPEN, codes.CHARGING, codes.FLOAT, codes.DEFERRED)


def is_ascii(ch):
    return ord(ch) < 0x80


def has_wide(s):
    for ch in s:
        if ord(ch) >= 0x80:
            return True
    return False


def text_width(s):
    w = 0
    for ch in s:
        w += _ASCII_W if ord(ch) < 0x80 else _WIDE_W
    return w


def wrap(s, max_w):
    """Lines of s no wider than max_w: breaks at "\\n", spaces and between wide glyphs."""
    lines = []
    for para in s.split("\n"):
        line = ""
        w = 0
        i = 0
        n = len(para)
        while i < n:
            j = i + 1
            if para[i] != " " and is_ascii(para[i]):
                while j < n and para[j] != " " and is_ascii(para[j]):
                    j += 1  # an ASCII word stays whole
            tok = para[i:j]
            tw = text_width(tok)
            if line and w + tw > max_w:
                lines.append(line.rstrip())
                line = ""
                w = 0
                if tok == " ":
                    i = j
                    continue
            line += tok
            w += tw
            i = j
        lines.append(line.rstrip())
    return lines


class Text:
    """Draws strings mixing framebuf's 8x8 ASCII and 16x16 glyphs from lib/glyphs_zh."""

    def __init__(self, fb, glyphs=None):
        self.fb = fb
        if glyphs is None:
            glyphs = _G
        self.chars = glyphs.CHARS if glyphs is not None else ""
        self.table = memoryview(glyphs.GLYPHS) if glyphs is not None else None
        self._gbuf = bytearray(_GLYPH_BYTES)
        self._g = framebuf.FrameBuffer(self._gbuf, _WIDE_W, _ROW_H, framebuf.MONO_VLSB)
        # blit's palette maps 0->1, 1->0; with key 1 that draws set pixels as 0
        self._inv = framebuf.FrameBuffer(bytearray(2), 2, 1, framebuf.MONO_VLSB)
        self._inv.pixel(0, 0, 1)

    def draw(self, s, x, y, c=1):
        """Draw s in a 16 px row at (x, y); returns the x after it."""
        fb = self.fb
        for ch in s:
            if ord(ch) < 0x80:
                fb.text(ch, x, y + _ASCII_DY, c)
                x += _ASCII_W
            else:
                self.glyph(ch, x, y, c)
                x += _WIDE_W
        return x

    def glyph(self, ch, x, y, c=1):
        i = self.chars.find(ch)
        if i < 0:  # no glyph: a '?' box, the same size
            self.fb.rect(x + 1, y + 1, _WIDE_W - 2, _ROW_H - 2, c)
            self.fb.text("?", x + 4, y + 4, c)
            return
        self._gbuf[:] = self.table[i * _GLYPH_BYTES:(i + 1) * _GLYPH_BYTES]
        if c:
            self.fb.blit(self._g, x, y, 0)
        else:
            self.fb.blit(self._g, x, y, 1, self._inv)

    def centre(self, s, y, c=1, x0=0, w=_W):
        self.draw(s, x0 + (w - text_width(s)) // 2, y, c)

    def right(self, s, y, c=1, x1=_W):
        self.draw(s, x1 - text_width(s), y, c)

    def block(self, s, y0, y1, x0=0, w=_W, c=1):
        """Wrap s into the box x0..x0+w, y0..y1, centred both ways; lines past y1 are cut."""
        lines = wrap(s, w)
        total = 0
        for ln in lines:
            total += _ROW_H if has_wide(ln) else _EN_PITCH
        if lines and not has_wide(lines[-1]):
            total -= _EN_PITCH - _ASCII_H  # no gap under the last line
        y = y0 + max(0, (y1 - y0 - total) // 2)
        for ln in lines:
            wide = has_wide(ln)
            if y + (_ROW_H if wide else _ASCII_H) > y1:
                break
            # an ASCII-only line is 8 px high at y; a mixed one fills a 16 px row
            self.centre(ln, y if wide else y - _ASCII_DY, c, x0, w)
            y += _ROW_H if wide else _EN_PITCH


def parse_qr(rows):
    """Config `qr` -> list of (bits, value) rows; ValueError naming the bad row.

    n rows of n '0'/'1' characters, or n hex strings of one length holding at least n
    bits, most significant first (bits past n are ignored). 1 is a dark module.
    """
    if not isinstance(rows, list) or not rows:
        raise ValueError("qr: not a list of rows")
    n = len(rows)
    if n + 2 * _QR_QUIET_MIN > _QR_BOX:
        raise ValueError("qr: %d modules do not fit %d px" % (n, _QR_BOX))
    width = len(rows[0]) if isinstance(rows[0], str) else 0
    binary = width == n
    out = []
    for i, r in enumerate(rows):
        try:
            if not isinstance(r, str) or len(r) != width or (binary and r.strip("01")):
                raise ValueError
            if not binary and width * 4 < n:
                raise ValueError
            out.append((width if binary else width * 4, int(r, 2 if binary else 16)))
        except ValueError:
            raise ValueError("qr: row %d is neither %d bits nor hex like row 0" % (i, n)) from None
    return out


def qr_image(rows):
    """Draw the QR once, at start-up, into a 64x64 frame: light quiet zone, dark modules."""
    n = len(rows)
    scale = _QR_BOX // (n + 2 * _QR_QUIET_MIN)
    quiet = min(_QR_QUIET_MAX, (_QR_BOX // scale - n) // 2)
    side = (n + 2 * quiet) * scale
    buf = bytearray(_QR_BOX * _QR_BOX // 8)
    fb = framebuf.FrameBuffer(buf, _QR_BOX, _QR_BOX, framebuf.MONO_VLSB)
    off = (_QR_BOX - side) // 2
    fb.fill_rect(off, off, side, side, 1)  # lit pixels are the light colour on an OLED
    org = off + quiet * scale
    for y in range(n):
        bits, v = rows[y]
        for x in range(n):
            if (v >> (bits - 1 - x)) & 1:
                fb.fill_rect(org + x * scale, org + y * scale, scale, scale, 0)
    return fb, scale, quiet


class Ui:
    """Draws one screen at a time on a framebuf-compatible 128x64 display."""

    def __init__(self, fb, lang=T.DEFAULT_LANG, qr=None, glyphs=None):
        self.fb = fb
        self.t = T.table(lang)
        self.text = Text(fb, glyphs)
        self.qr = None
        self.qr_error = None
        if qr:
            try:
                self.qr = qr_image(parse_qr(qr))
            except ValueError as e:
                self.qr_error = str(e)
        self._screens = {T.IDLE: self.idle, T.GRID: self.grid, T.CHOOSE: self.choose,
                         T.CONFIRM: self.confirm, T.AUTH: self.auth, T.SESSION: self.session,
                         T.ALARM: self.alarm, T.MSG: self.msg, T.QR: self.qr_screen}

    def s(self, key):
        return T.get(self.t, key)

    def draw(self, screen, params):
        self.fb.fill(0)
        fn = self._screens.get(screen)
        if fn is None:
            self.text.block("?", 0, _H)
        else:
            fn(*params)

    # --- screens ---
    def idle(self, cabinet_id, free, total, minute=None):
        tx = self.text
        tx.draw(cabinet_id[:10], 0, 0)
        tx.right("--:--" if minute is None else "%02d:%02d" % (minute // 60, minute % 60), 0)
        self.fb.hline(0, _ROW_H + 1, _W, 1)
        tx.centre("%s %d/%d" % (self.s("free_ports"), free, total), 22)
        tx.centre(self.s("swipe_card"), 44)

    def grid(self, states, title=None, selected=-1):
        tx = self.text
        if title is None:
            tx.draw(self.s("ports"), 0, 0)
        n = len(states)
        cols = max(1, (n + 1) // 2)
        cw = _W // cols
        for p in range(n):
            x = (p % cols) * cw
            y = _GRID_TOP + (p // cols) * _CELL_H
            st = states[p]
            c = 1
            if st in _BUSY:
                self.fb.fill_rect(x, y, cw - 1, _CELL_H - 1, 1)
                c = 0
                mark = "cell_busy"
            elif st == codes.LOCKED:
                mark = "cell_locked"
            elif st == codes.FAULT:
                mark = "cell_fault"
            else:
                mark = "cell_free"
            self._cell_number(p + 1, x, y + 1, cw - 1, c)
            m = self.s(mark)
            if text_width(m) > cw - 1:
                m = m[:1]  # "ON" -> "O" in the 15 px cells of a 16-port grid
            tx.draw(m, x + max(0, (cw - 1 - text_width(m)) // 2), y + 8, c)
            if p == selected:
                self.fb.rect(x, y, cw - 1, _CELL_H - 1, 1)
                self.fb.rect(x + 1, y + 1, cw - 3, _CELL_H - 3, 0)

    def _cell_number(self, n, x, y, w, c):
        # framebuf's digits use columns 1-6 of their 8: a 7 px advance keeps "16" in
        # the 15 px cells of a 16-port grid
        s = str(n)
        x += (w - _DIGIT_ADV * len(s) + 1) // 2 - 1
        for ch in s:
            self.fb.text(ch, x, y, c)
            x += _DIGIT_ADV

    def choose(self, digits, states, error=None):
        tx = self.text
        if error:
            tx.draw(self.s(error), 0, 0)
        else:
            x = tx.draw(self.s("choose"), 0, 0)
            tx.draw(digits + "_", max(x + 4, _W - 24), 0)
        sel = int(digits) - 1 if digits else -1
        self.grid(states, "", sel)

    def confirm(self, port):
        self.text.block(self.s("confirm").format(port + 1), 0, 40)
        self.text.centre(self.s("hint"), 44)

    def auth(self, port):
        self.text.block(self.s("checking"), 0, _H)

    def session(self, port, elapsed_s, mwh, fen, limit, state):
        tx = self.text
        left = self.s("port_n").format(port + 1)
        if state == codes.FLOAT:
            right = (self.s("full"),)
        elif state == codes.DEFERRED:
            right = (self.s("waiting"),)
        else:
            v = self.limit_text(limit)
            right = (self.s("limit") + " " + v, v)
        for r in right:  # the first that fits beside the port
            if text_width(left) + _ASCII_W + text_width(r) <= _W:
                break
        else:
            left = str(port + 1)
        tx.draw(left, 0, 0)
        tx.right(r, 0)
        rows = (("elapsed", "%d:%02d:%02d" % (elapsed_s // 3600, elapsed_s // 60 % 60,
                                               elapsed_s % 60)),
                ("energy", "%d.%d Wh" % (mwh // 1000, mwh // 100 % 10)),
                ("cost", self.yuan(fen)))
        y = _ROW_H
        for label, value in rows:
            tx.draw(value, tx.draw(self.s(label), 0, y) + _ASCII_W, y)
            y += _ROW_H

    def alarm(self, code, port=None):
        tx = self.text
        self.fb.fill_rect(0, 0, _W, _ROW_H, 1)
        tx.draw(self.s("alarm"), 2, 0, 0)
        if port is not None:
            tx.right(self.s("port_n").format(port + 1), 0, 0, _W - 2)
        msg = self.t.get("a_" + str(code)) or self.s("a_other")
        tx.block(msg, _ROW_H, 3 * _ROW_H)
        tx.centre(self.s("call_staff"), 3 * _ROW_H)

    def msg(self, key, port=None):
        s = T.message(self.t, key)
        if port is not None:
            s = s.format(port + 1)
        self.text.block(s, 0, _H)

    def qr_screen(self, cabinet_id):
        tx = self.text
        if self.qr is None:
            tx.block(self.s("swipe_card"), 0, 40)
        else:
            self.fb.blit(self.qr[0], 0, 0)
            tx.block(self.s("scan_qr"), 0, 40, _QR_BOX, _W - _QR_BOX)
        tx.centre(cabinet_id[:8], 48, 1, _QR_BOX if self.qr else 0,
                  _W - _QR_BOX if self.qr else _W)

    # --- formatting (integers only) ---
    def yuan(self, fen):
        return "%d.%02d%s" % (fen // 100, fen % 100, self.s("yuan"))

    def limit_text(self, limit):
        for k in limit:
            v = limit[k]
            if k == "minutes":
                return "%dh" % (v // 60) if v % 60 == 0 else "%dh%02d" % (v // 60, v % 60)
            if k == "wh":
                return "%d.%dkWh" % (v // 1000, v // 100 % 10) if v >= 1000 else "%dWh" % v
            if k == "fen":
                return "%d%s" % (v // 100, self.s("yuan")) if v % 100 == 0 else self.yuan(v)
        return self.s("limit_full")
