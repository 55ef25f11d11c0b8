# The cabinet's front panel: card reader, keypad, OLED and buzzer around the resident flow.
#
# step() runs every control tick and stays short: the keypad is scanned every tick
# (a few pin reads), the card reader polled every READER_MS (one MFRC522 poll is 1-7 ms
# on the bus), the screen chosen every SCREEN_MS, and the display pushes at most one
# 128-byte page per tick (firmware/panel/display.py). Any error in a panel part is caught,
# counted and reported once: the panel never stops charging or protection.
#
# What the screen shows, first match wins: a critical alarm; the resident flow when
# someone is using it; otherwise the cabinet cycles idle -> port grid -> QR code.

from firmware.core import codes
from firmware.core.ticks import fresh
from firmware.panel import ui_text as T
from firmware.panel.resident import Resident

READER_MS = 300  # a card is held ~1 s: read within a third of that
SCREEN_MS = 250
ROTATE_MS = 5000  # idle screens rotate this often
_ROTATION = (T.IDLE, T.GRID, T.QR)


def uid_hex(uid):
    """A card's UID bytes as upper-case hex, e.g. "04A1B2C3" (the offline list's form)."""
    return "".join("%02X" % b for b in uid)


class Panel:
    """board: the parts of the board contract (drivers/board.py); a null reader or keypad
    answers nothing, no screen or beeper is built for a null display or buzzer.
    cloud: card authorisation and the offline list (firmware/protocol/cloud.py)."""

    def __init__(self, app, board, cfg, cloud):
        self.app = app
        self.clock = board.clock
        self.reader = board.reader
        self.keypad = board.keypad
        self.cloud = cloud
        self.cfg = cfg
        self.errors = 0
        self.display = None
        self.beeper = None
        if board.fitted(board.display):
            from firmware.panel.display import Display
            from firmware.panel.ui import Ui

            self.display = Display(board.display, Ui(board.display, cfg["lang"], cfg["qr"]),
                                   self.clock)
        if board.fitted(board.buzzer):
            from firmware.panel.beeper import Beeper

            self.beeper = Beeper(board.buzzer, self.clock)
        self.flow = Resident(self.clock, app.n, self._authorize, self._start, self._stop,
                             self._card_port, self._offline_ok, port_states=self._states)
        now = self.clock.ticks_ms()
        self.next_reader = now
        self.next_screen = now
        self.rotate_since = now
        self.rotation = 0
        self.reader_alarm = False

    # --- the resident flow's callables ---
    def _authorize(self, card, port):
        return self.cloud.request_auth(card, port)

    def _start(self, port, auth, limit, order=None):
        return self.app.start(port, "card:" + auth if not auth.startswith("card:") else auth,
                              limit, order)

    def _stop(self, port):
        return self.app.stop(port, codes.USER_STOP)

    def _card_port(self, card):
        tag = "card:" + card
        for p in range(self.app.n):
            s = self.app.session(p)
            if s is not None and s.auth == tag:
                return p
        return None

    def _offline_ok(self, card):
        return self.cloud.card_ok(card)

    def _states(self):
        app = self.app
        return [app.port_state(p) for p in range(app.n)]

    def on_auth_result(self, ok, limit=None, reason=None, rid=None, order=None):
        return self.flow.on_auth_result(ok, limit, reason, rid, order)

    # --- every tick ---
    def step(self):
        clock = self.clock
        now = clock.ticks_ms()
        try:
            k = self.keypad.scan()  # None from a null keypad too
            if k is not None:
                self.flow.key(k)
            if clock.ticks_diff(now, self.next_reader) >= 0:
                self.next_reader = clock.ticks_add(now, READER_MS)
                self._read_card()
            self.flow.tick()
            if clock.ticks_diff(now, self.next_screen) >= 0:
                self.next_screen = clock.ticks_add(now, SCREEN_MS)
                self.rotate_since = fresh(clock, now, self.rotate_since)
                self._compose(now)
            if self.display is not None:
                self.display.step()
            if self.beeper is not None:
                self.beeper.step()
        except Exception as e:  # a panel fault must never stop the control loop
            self.errors += 1
            if self.errors == 1:
                self.app.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, "panel: %r" % e)

    def _read_card(self):
        uid = self.reader.poll()
        if uid is not None:
            self.flow.swipe(uid_hex(uid))
        healthy = self.reader.healthy
        if not healthy and not self.reader_alarm:
            self.reader_alarm = True
            self.app.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, "card reader")
        elif healthy and self.reader_alarm:
            self.reader_alarm = False
            self.app.clear_alarm(codes.A_SENSOR_FAULT, None)

    def _compose(self, now):
        beep = self.flow.pop_beep()
        if beep is not None and self.beeper is not None:
            self.beeper.play(beep)
        if self.display is None:
            return
        screen, params = self._screen(now)
        self.display.show(screen, params)

    def _screen(self, now):
        app = self.app
        key = app.critical_alarm()
        if key is not None:
            return T.ALARM, key
        screen, params = self.flow.view()
        if screen != T.IDLE:
            return screen, params
        if self.clock.ticks_diff(now, self.rotate_since) >= ROTATE_MS:
            self.rotate_since = now
            self.rotation = (self.rotation + 1) % len(_ROTATION)
        screen = _ROTATION[self.rotation]
        if screen == T.QR and not self.cfg["qr"]:
            screen = T.GRID
        if screen == T.GRID:
            return T.GRID, (tuple(self._states()),)
        if screen == T.QR:
            return T.QR, (self.cfg["cabinet_id"],)
        free = 0
        for st in self._states():
            if st in (codes.IDLE, codes.ENDED):
                free += 1
        t = app.clock.since2024_s() + int(self.cfg["tz_offset_h"] * 3600)  # small int
        minute = (t // 60) % 1440 if app.clock.epoch_set else None
        return T.IDLE, (self.cfg["cabinet_id"], free, app.n, minute)
