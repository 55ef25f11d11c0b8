# Debounced digital inputs (smoke detector relay contact, door switch, service button),
# polled on the injected clock. A level must hold for debounce_ms before the stable state
# follows it; anything shorter (contact bounce, EMI from relay coils) is ignored.


class Debounced:
    """One input pin (configure its pull on the board side, e.g. Pin(34, Pin.IN)).

    active: the stable state (True = asserted; with active_low, the pin reads 0).
    It starts False, so an input already asserted at construction is reported by
    update() debounce_ms later, like any other change. since_ms: ticks_ms of the last
    stable change (construction time before the first).
    """

    def __init__(self, pin, clock, debounce_ms=50, active_low=False):
        self._pin = pin
        self._tms = clock.ticks_ms
        self._tdiff = clock.ticks_diff
        self.debounce_ms = debounce_ms
        self.active_low = bool(active_low)
        self.active = False
        self.since_ms = self._tms()
        self._pending = False
        self._pending_ms = 0

    def raw(self):
        """The asserted state of the pin right now, undebounced."""
        return (self._pin.value() != 0) != self.active_low

    def update(self):
        """Sample the pin; True when the stable state changed on this call."""
        now = self._tms()
        if self.raw() == self.active:
            self._pending = False
            return False
        if not self._pending:
            self._pending = True
            self._pending_ms = now
        if self._tdiff(now, self._pending_ms) < self.debounce_ms:
            return False
        self.active = not self.active
        self._pending = False
        self.since_ms = now
        return True
