# Buzzer / LED feedback patterns, played without blocking the control loop.
#
#   beep = Beeper(Pin(25, Pin.OUT), clock)
#   beep.play("swipe")                  # swipe, key, start, refusal, alarm
#   beep.step()                         # every control tick

# name: (on, off, on, ... ms; repeat). Short = acknowledged, long = refused.
PATTERNS = {
    "key": ((30,), False),
    "swipe": ((60,), False),
    "start": ((80, 80, 80), False),
    "refusal": ((400, 150, 400), False),
    "alarm": ((500, 500), True),  # until stop()
}


class Beeper:
    """Plays PATTERNS on an output pin without blocking: call step() every tick.

    An alarm keeps playing until stop(); while it plays, other patterns are dropped.
    """

    def __init__(self, pin, clock, active_high=True):
        self.pin = pin
        self.clock = clock
        self._on = 1 if active_high else 0
        self._steps = None
        self._repeat = False
        self._i = 0
        self._due = 0
        self.name = None
        pin.value(1 - self._on)

    def play(self, name):
        pat = PATTERNS.get(name)
        if pat is None or (self._repeat and self._steps is not None):
            return False
        self._steps, self._repeat = pat
        self.name = name
        self._i = 0
        self._due = self.clock.ticks_add(self.clock.ticks_ms(), self._steps[0])
        self.pin.value(self._on)
        return True

    def stop(self):
        self._steps = None
        self._repeat = False
        self.name = None
        self.pin.value(1 - self._on)

    def step(self):
        steps = self._steps
        if steps is None:
            return
        now = self.clock.ticks_ms()
        while self.clock.ticks_diff(now, self._due) >= 0:
            self._i += 1
            if self._i == len(steps):
                if not self._repeat:
                    self.stop()
                    return
                self._i = 0
            self.pin.value(self._on if self._i % 2 == 0 else 1 - self._on)
            self._due = self.clock.ticks_add(self._due, steps[self._i])
