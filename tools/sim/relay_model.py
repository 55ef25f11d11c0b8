# Relay and 74HC595 models for the virtual board (MicroPython and CPython).
#
#   r = Relay.on_pin(16)                  # coil driven by GPIO16 (active high)
#   chain = HC595Chain(2, latch_id=5)     # two chips fed by SPI, RCLK on GPIO5
#   chain.wire(3, Relay())                # relay 3 on chip 0, Q3
#   r.closed()                            # contacts, with the mechanical delay
#
# Contacts follow the coil after a delay (typical small power relays: about 10 ms to
# close, 5 ms to open). A coil pulse shorter than the delay moves nothing. weld() models
# contacts welded shut by an inrush or a short: closed whatever the coil does.

from vclock import CLOCK


class Relay:
    def __init__(self, close_ms=10, open_ms=5, clock=CLOCK):
        self._clock = clock
        self.close_us = close_ms * 1000
        self.open_us = open_ms * 1000
        self._coil = False
        self._contact = False  # settled contact state at the last coil change
        self._t_us = clock.us
        self.welded = False
        self.energised = 0  # coil turn-ons, for glitch tests

    @classmethod
    def on_pin(cls, pin_id, active_low=False, **kw):
        """A relay whose coil follows output pin `pin_id` (driven to 0 when active_low)."""
        import machine

        r = cls(**kw)
        on_level = 0 if active_low else 1
        machine.Pin.watch(pin_id, lambda pid, level: r.coil(level == on_level))
        return r

    def _state(self, now_us):
        if self._coil == self._contact:
            return self._contact
        delay = self.close_us if self._coil else self.open_us
        return self._coil if now_us - self._t_us >= delay else self._contact

    def coil(self, on):
        """Energise (True) or release the coil now."""
        on = bool(on)
        now = self._clock.us
        self._contact = self._state(now)
        if on != self._coil:
            self._coil = on
            self._t_us = now
            if on:
                self.energised += 1

    def coil_on(self):
        return self._coil

    def closed(self):
        """Contacts closed now (always, once welded)."""
        return self.welded or self._state(self._clock.us)

    def weld(self):
        self.welded = True


class HC595Chain:
    """A chain of 74HC595s. Shift clock from SPI (the latch pin doubles as the select the
    fake SPI routes by) or from bit-banged data/clk pins; the storage register loads on
    the latch's rising edge; /OE high makes every output high-impedance (coils off).

    `outputs` holds the storage register: bit j is chip j // 8, output Q(j % 8), chip 0
    nearest the MCU. power_on: the storage register's undefined power-up content.
    """

    def __init__(self, chips, latch_id, data_id=None, clk_id=None, oe_id=None,
                 power_on=0):
        import machine

        self.chips = chips
        self._full = (1 << (8 * chips)) - 1
        self._data_id = data_id
        self._oe_id = oe_id
        self.shift = 0
        self.outputs = power_on & self._full
        self.latches = 0
        self.history = []  # outputs after each latch
        self._relays = {}  # bit -> (Relay, active_low)
        machine.Pin.watch(latch_id, self._on_latch)
        if clk_id is None:
            machine.SPI.attach(latch_id, self)
        else:
            machine.Pin.watch(clk_id, self._on_clk)
        if oe_id is not None:
            machine.Pin.watch(oe_id, lambda pid, level: self._drive())

    def enabled(self):
        """Outputs driven: /OE low (a board pull-up keeps it high until the MCU drives it)."""
        import machine

        if self._oe_id is None:
            return True
        p = machine._pins.get(self._oe_id)
        return p is not None and p.mode == machine.Pin.OUT and p._out == 0

    def wire(self, bit, relay, active_low=False):
        """Connect output `bit` to a relay's coil driver."""
        self._relays[bit] = (relay, active_low)
        self._drive()

    def _shift_in(self, b):
        self.shift = ((self.shift << 1) | (b & 1)) & self._full

    def transfer(self, data):
        for byte in data:
            for k in range(7, -1, -1):
                self._shift_in(byte >> k)
        return bytes(len(data))  # QH' is not wired back to MISO

    def _on_clk(self, pin_id, level):
        import machine

        if level:
            self._shift_in(machine.Pin.level(self._data_id))

    def _on_latch(self, pin_id, level):
        if level:
            self.outputs = self.shift
            self.latches += 1
            self.history.append(self.outputs)
            self._drive()

    def _drive(self):
        en = self.enabled()
        for bit, (relay, active_low) in self._relays.items():
            level = (self.outputs >> bit) & 1
            relay.coil(en and level == (0 if active_low else 1))
