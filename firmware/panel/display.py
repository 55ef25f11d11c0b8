# Bounded OLED refresh: redraw only on change, at most one 128-byte page per step().
#
#   disp = Display(oled, ui, clock)     # oled: lib/ssd1306.SSD1306_I2C, ui: firmware.panel.ui.Ui
#   disp.show(screen, params)           # whenever; cheap when nothing changed
#   disp.step()                         # every control tick

from micropython import const

from firmware.panel import ui_text as T

_SET_COL_ADDR = const(0x21)  # SSD1306: column start, end (horizontal addressing mode)
_SET_PAGE_ADDR = const(0x22)  # SSD1306: page start, end
_PAGE_BYTES = const(128)  # one page: 128 columns x 8 rows
_RETRY_MS = const(1000)  # after a bus error, wait this long before the next push


class Display:
    """Redraws only when the content changes, and pushes at most one page per step().

    ssd1306's show() sends all 1024 bytes at once: on the cabinet's 100 kHz I2C (the
    keypad's PCF8574 sets it; 9 bits a byte with the ACK) that is 94 ms (23 ms at 400 kHz),
    too long inside a 20 ms control tick. Here a step() either redraws the frame buffer
    (no bus traffic) or sends one 128-byte page, 13.5 ms at 100 kHz (3.1 ms at 400 kHz)
    with the page-address commands, and only when that page differs
    from what the panel already shows (a shadow copy), so a clock tick costs one page.
    """

    def __init__(self, oled, ui, clock):
        self.oled = oled
        self.ui = ui
        self.clock = clock
        buf = oled.buffer
        self.npages = len(buf) // _PAGE_BYTES
        mv = memoryview(buf)
        self._pages = [mv[p * _PAGE_BYTES:(p + 1) * _PAGE_BYTES] for p in range(self.npages)]
        self._shadow = bytearray(len(buf))  # what the panel holds (init_display blanked it)
        self._all = (1 << self.npages) - 1
        self._dirty = self._all  # pages to compare with the shadow
        self._force = self._all  # pages to send whatever the shadow says
        self._next = 0
        self._screen = None
        self._params = None
        self._stale = False
        self._col_set = False
        self._hold_ms = None
        self.renders = 0
        self.pushes = 0
        self.errors = 0
        self.last_error = None

    def show(self, screen, params=()):
        """Ask for a screen; cheap when it is what is already shown."""
        if screen != self._screen or params != self._params:
            self._screen = screen
            self._params = params
            self._stale = True

    def busy(self):
        return self._stale or self._dirty != 0

    def step(self):
        """Redraw, or push at most one changed page. Returns the page pushed or -1."""
        if self._hold_ms is not None:
            if self.clock.ticks_diff(self.clock.ticks_ms(), self._hold_ms) < 0:
                return -1
            self._hold_ms = None
        if self._stale:
            self._stale = False
            self.renders += 1
            try:
                self.ui.draw(self._screen, self._params)
            except Exception as e:  # noqa: BLE001 - a drawing bug must not stop the loop
                self.errors += 1
                self.last_error = e
                self.ui.draw(T.MSG, (T.FAILED, None))
            self._dirty = self._all
            self._next = 0
            return -1
        while self._dirty:
            p = self._next
            self._next = (p + 1) % self.npages
            bit = 1 << p
            if self._dirty & bit:
                self._dirty &= ~bit
                if self._differs(p) or self._force & bit:
                    return self._push(p)
                return -1  # one page looked at per step
        return -1

    def _differs(self, p):
        page = self._pages[p]
        sh = self._shadow
        base = p * _PAGE_BYTES
        for i in range(_PAGE_BYTES):
            if page[i] != sh[base + i]:
                return True
        return False

    def _push(self, p):
        o = self.oled
        try:
            if not self._col_set:
                o.write_cmd(_SET_COL_ADDR)
                o.write_cmd(0)
                o.write_cmd(_PAGE_BYTES - 1)
                self._col_set = True
            o.write_cmd(_SET_PAGE_ADDR)
            o.write_cmd(p)
            o.write_cmd(self.npages - 1)
            o.write_data(self._pages[p])
        except OSError as e:  # no ACK: the panel is retried, every page resent
            self.errors += 1
            self.last_error = e
            self._col_set = False
            self._dirty = self._force = self._all
            self._hold_ms = self.clock.ticks_add(self.clock.ticks_ms(), _RETRY_MS)
            return -1
        base = p * _PAGE_BYTES
        self._shadow[base:base + _PAGE_BYTES] = self._pages[p]
        self._force &= ~(1 << p)
        self.pushes += 1
        return p
