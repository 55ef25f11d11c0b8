# Virtual 3x4 matrix keypad for the virtual board (MicroPython and CPython).
#
#   kp = KeypadModel(ROW_IDS, COL_IDS)
#   kp.press("5", 120)                  # held 120 ms from now (virtual time)
#   kp.press("#", 150, bounce_ms=8)     # contacts chatter 8 ms at make and at break
#
# A key joins its row and column. When the scanner pulls a row low (the model watches
# the row pins), every column with a closed key on that row is pulled low; other
# columns are released to their pull-up (a column without a pull-up then reads 0, as a
# floating ESP32 input may). Contacts are judged at the moment the row goes low.
# Bounce: during bounce_ms after make and after break the contact opens and closes in
# a fixed pseudo-random pattern of 250 us slots, the same on every run.

from vclock import CLOCK

KEYMAP = "123456789*0#"
_SLOT_US = 250


class KeypadModel:
    def __init__(self, row_ids, col_ids, keymap=KEYMAP, clock=CLOCK):
        import machine

        self._machine = machine
        self._clock = clock
        self.rows = tuple(row_ids)
        self.cols = tuple(col_ids)
        self.keymap = keymap
        self._presses = []  # [key index, make_us, break_us, bounce_us]
        for pid in self.rows:
            machine.Pin.watch(pid, self._on_row)
        for pid in self.cols:
            machine.Pin.release(pid)

    def press(self, key, ms, bounce_ms=0, after_ms=0):
        """Close `key` after_ms from now for ms (bounce included in ms)."""
        i = self.keymap.index(key)
        t0 = self._clock.us + after_ms * 1000
        self._presses.append([i, t0, t0 + ms * 1000, bounce_ms * 1000])

    def release_all(self):
        self._presses = []

    def _closed(self, p, t):
        _, make, brk, bounce = p
        if t < make or t >= brk + bounce:
            return False
        if t < make + bounce:
            edge = make
        elif t >= brk:
            edge = brk
        else:
            return True
        h = ((t - edge) // _SLOT_US * 2654435761 + edge) & 0xFFFFFFFF  # slot hash
        h ^= h >> 15
        h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
        return (h ^ (h >> 12)) & 1 == 1

    def closed_keys(self):
        """Indices of keys whose contacts are closed now."""
        t = self._clock.us
        self._presses = [p for p in self._presses if t < p[2] + p[3]]
        return [p[0] for p in self._presses if self._closed(p, t)]

    def _row_low(self, pid):
        p = self._machine._pins.get(pid)
        return (p is not None and p.mode in (p.OUT, p.OPEN_DRAIN) and p._out == 0)

    def _on_row(self, pid, level):
        ncols = len(self.cols)
        low = [False] * ncols
        keys = self.closed_keys()
        for r in range(len(self.rows)):
            if not self._row_low(self.rows[r]):
                continue
            for k in keys:
                if k // ncols == r:
                    low[k % ncols] = True
        for c in range(ncols):
            if low[c]:
                self._machine.Pin.drive(self.cols[c], 0)
            else:
                self._machine.Pin.release(self.cols[c])
