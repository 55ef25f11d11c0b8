# 3x4 matrix keypad (phone layout), scanned from the control loop.
#
#   kp = Keypad([Pin(r) for r in ROWS], [Pin(c) for c in COLS], time)
#   key = kp.scan()        # every control tick: "0"-"9", "*", "#" or None
#
# Wiring: the 4 rows are open-drain outputs, idle released (high); the 3 columns are
# inputs with pull-ups. A scan pulls one row low at a time and reads the columns: a
# column reading 0 has a closed key on that row. Open drain means two keys pressed in
# one column never short a driven-high row to a driven-low one. ESP32 GPIO 34-39 have
# no internal pull-ups: columns wired there need external ones (10 k to 3V3), as do
# long keypad cables (a released column must be back high before the next row's read,
# some 10 us later in this Python loop). A key held at start-up is reported once too.
#
# Debounce: the decoded key (none, one key, or "several") must read the same for
# debounce_ms before it becomes the stable state; a key is reported once, when it
# becomes stable, and not again while held. Contact bounce and glitches shorter than
# debounce_ms are never reported. With several keys down nothing is reported; letting
# go of all but one reports that one. scan() must run at least twice within the
# shortest press to be caught (a 20 ms tick catches any human press, ~80 ms or more).

_KEYMAP = "123456789*0#"  # row-major, row 0 at the top


class Keypad:
    def __init__(self, rows, cols, clock, debounce_ms=30, keymap=_KEYMAP):
        if len(keymap) != len(rows) * len(cols):
            raise ValueError("keymap size")
        self._rows = list(rows)
        self._cols = list(cols)
        self._tms = clock.ticks_ms
        self._tdiff = clock.ticks_diff
        self.debounce_ms = debounce_ms
        self._keys = tuple(keymap[i] for i in range(len(keymap)))  # no str per report
        for r in self._rows:
            r.init(r.OPEN_DRAIN, value=1)
        for c in self._cols:
            c.init(c.IN, c.PULL_UP)
        self._stable = -1  # key index, -1 none, -2 several
        self._cand = -1
        self._cand_ms = self._tms()

    def _any(self):
        """Is any key down? Every row pulled low at once, the columns read once."""
        for r in self._rows:
            r.value(0)
        down = False
        for c in self._cols:
            if c.value() == 0:
                down = True
        for r in self._rows:
            r.value(1)
        return down

    def raw(self):
        """Key index down right now (row * columns + column), -1 none, -2 several."""
        if not self._any():
            return -1  # the usual case: no key, half the pin operations of a full scan
        found = -1
        i = 0
        for r in self._rows:
            r.value(0)
            for c in self._cols:
                if c.value() == 0:
                    found = i if found == -1 else -2
                i += 1
            r.value(1)
        return found

    def scan(self):
        """A key that has just been pressed (and held debounce_ms), else None."""
        k = self.raw()
        now = self._tms()
        if k != self._cand:
            self._cand = k
            self._cand_ms = now
            return None
        if k == self._stable or self._tdiff(now, self._cand_ms) < self.debounce_ms:
            return None
        self._stable = k
        return self._keys[k] if k >= 0 else None

    def held(self):
        """The debounced key currently held, or None."""
        return self._keys[self._stable] if self._stable >= 0 else None
