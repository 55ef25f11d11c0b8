# The board contract: what the firmware may ask of a cabinet's hardware, written once.
#
# Every board builds on Board: the real one (drivers/cabinet.py build()), the simulator's
# VirtualBoard (tools/sim/board.py), the device VM's wire board (tools/sim/devicevm.py)
# and the benches' boards (tools/bench/). A part a board does not have is an explicit
# null part below, never None and never a missing attribute: the firmware calls every
# part the same way and nothing probes with getattr/hasattr. Null parts cost nothing per
# tick (a constant return) and allocate nothing.
#
# The parts (a board sets the first four in its constructor; the rest default to null):
#   clock    ticks_ms(), ticks_us(), ticks_diff(a, b), ticks_add(t, d), sleep_ms(ms), sleep_us(us),
#            time() (Unix s), since2024_s() (small int), epoch_set (RTC known)
#   meters   Meters: per-port lists mv, ma, mw, energy_mwh, frames, seen_ms; poll(),
#            age_ms(p), silent(p), garbage(p)
#   relays   set(i, on), get(i), all_off()
#   sensors  Sensors: cabinet_c10() (None: sensor fault), port_c10(p) (None: no probe),
#            smoke(), door_open()
#   reader   card reader: poll() -> uid bytes or None, healthy (bool)
#   keypad   scan() -> key char or None
#   display  an SSD1306-like framebuffer (buffer, the page push of firmware/panel/display.py)
#   buzzer   a Pin: value(0 | 1)
#   problems what failed to answer while the board was built (alarmed at boot)
#   service_held()  the service button held at power-on (safe mode); False without one
# fitted(part) tells a real part from a null one (the panel builds no screen for none).

TYPE_CHECKING = False  # pyright reads the block below; the device never runs it
if TYPE_CHECKING:
    from typing import Any  # noqa: F401 (used in the type comments)


class NullPart:
    """Base of every null part: fitted(part) is False for these."""


class NoReader(NullPart):
    healthy = True  # nothing to fail

    def poll(self):
        return None


class NoKeypad(NullPart):
    def scan(self):
        return None


class NoDisplay(NullPart):
    pass  # the panel builds no screen for it (Board.fitted)


class NoBuzzer(NullPart):
    def value(self, v=None):
        return 0


class NoDoor(NullPart):
    """No door switch: the door reads closed."""

    active = False

    def update(self):
        return False


NO_READER = NoReader()
NO_KEYPAD = NoKeypad()
NO_DISPLAY = NoDisplay()
NO_BUZZER = NoBuzzer()
NO_DOOR = NoDoor()


class Meters:
    """Base of the meter readers (MeterScanner, CTMeters, the simulator's models): the
    default answers of the optional questions."""

    def garbage(self, p):
        """True while port p's meter sends frames that fail their checks."""
        return False


class Sensors:
    """The cabinet sensors. cabinet_c10 and smoke are every board's own; a board without
    port probes or door switch keeps these answers (NoPortSensors: the base as is)."""

    door_in = NO_DOOR  # a Debounced input, active while the door is open

    def cabinet_c10(self):
        raise NotImplementedError

    def smoke(self):
        raise NotImplementedError

    def port_c10(self, p):
        return None  # no probe on this port

    def door_open(self):
        d = self.door_in
        d.update()
        return d.active


class NoPortSensors(Sensors):
    """A cabinet with neither port probes nor door switch, cool and smoke-free (benches)."""

    def cabinet_c10(self):
        return 250

    def smoke(self):
        return False


class Board:
    """The parts above; a board's constructor (or factory) sets clock, meters, relays and
    sensors, and any panel part it has."""

    clock = None  # type: Any
    meters = None  # type: Any
    relays = None  # type: Any
    sensors = None  # type: Any
    reader = NO_READER  # type: Any
    keypad = NO_KEYPAD  # type: Any
    display = NO_DISPLAY  # type: Any
    buzzer = NO_BUZZER  # type: Any

    def __init__(self):
        self.problems = []

    def service_held(self):
        return False  # no service button

    @staticmethod
    def fitted(part):
        """False for a null part (NO_READER, NO_DISPLAY, ...)."""
        return not isinstance(part, NullPart)


CONTRACT = ("clock", "meters", "relays", "sensors", "reader", "keypad", "display", "buzzer",
            "problems")
