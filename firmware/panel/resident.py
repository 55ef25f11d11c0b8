# What a resident does at the cabinet: swipe a card, pick a port on the keypad, confirm,
# and the card is authorised (online, or from the offline list) and the port opened.
# Pure logic on the injected clock; the app feeds it events and shows what it says.
#
#   flow = Resident(clock, n_ports, authorize=..., start=..., stop=..., card_port=...,
#                   offline_ok=..., port_states=...)
#   flow.swipe("04A1B2C3"); flow.key("3"); flow.key("#"); flow.key("#")
#   flow.on_auth_result(True, {"minutes": 240})   # when the server answers
#   flow.tick()                                   # every control tick: timeouts
#   screen, params = flow.view()                  # ui_text screen id + firmware/ui params
#   name = flow.pop_beep()                        # a ui.PATTERNS name, or None
#
# Keys: digits type a port number (1-based, as printed on the cabinet), '#' confirms,
# '*' goes back (clears the digits first, then cancels). Ports are 0-based inside.
#
# Injected callables:
#   authorize(card, port) -> request handle, or None when it cannot be sent (no network)
#   start(port, auth, limit) -> None or a refusal code (App.start)
#   stop(port) -> None or a refusal code (App.stop with reason user_stop)
#   card_port(card) -> the port this card is charging on, or None
#   offline_ok(card) -> True when the card is on the offline list
#   port_states() -> the port state codes (optional): refuse a busy, locked or faulty
#       port before asking the server, and show the grid while choosing.
#
# A card charges on one port at a time: a second swipe of a card that is charging stops
# its session (the usual "swipe again to stop" of Chinese charging cabinets). The same
# card is ignored for HOLDOFF_MS after it was accepted, so a double tap or a card left
# in the field does not stop the session it has just started.

from firmware.core import codes
from firmware.panel import ui_text as T

# States
IDLE = "idle"
CHOOSE = "choose"
CONFIRM = "confirm"
AUTH = "auth"
MESSAGE = "message"

# Timeouts (ms). Every state but IDLE ends by itself.
AUTH_TIMEOUT_MS = 5000  # no answer from the server: decide from the offline list
CHOOSE_MS = 30000  # no key while choosing a port: "timed out", then idle
CONFIRM_MS = 20000  # no '#' or '*' on the confirm screen: the same
MESSAGE_MS = 6000  # a result or refusal stays up this long (any key clears it)
HOLDOFF_MS = 3000  # the card just accepted is ignored this long
MAX_DIGITS = 2  # ports 1-16

DEFAULT_LIMIT = {"full": True}  # the server said yes without a limit
OFFLINE_LIMIT = {"full": True}  # offline start; max_session_s still caps it

_BUSY = (codes.OPEN, codes.CHARGING, codes.FLOAT, codes.DEFERRED)


class Resident:
    def __init__(self, clock, n_ports, authorize, start, stop, card_port, offline_ok,
                 port_states=None, auth_timeout_ms=AUTH_TIMEOUT_MS,
                 offline_limit=OFFLINE_LIMIT, default_limit=DEFAULT_LIMIT):
        self.clock = clock
        self.n = n_ports
        self._authorize = authorize
        self._start = start
        self._stop = stop
        self._card_port = card_port
        self._offline_ok = offline_ok
        self._port_states = port_states
        self.auth_timeout_ms = auth_timeout_ms
        self.offline_limit = offline_limit
        self.default_limit = default_limit
        self.state = IDLE
        self.card = None
        self.port = None
        self.digits = ""
        self.error = None  # message key shown on the choose screen
        self.msg = None  # (key, port) on the message screen
        self.request = None  # the pending authorize() handle
        self.deny_reason = None  # the server's reason for the last "no", for the log
        self._then = IDLE  # where the message screen goes back to
        self._msg_ms = MESSAGE_MS
        self._since = clock.ticks_ms()
        self._hold_card = None
        self._hold_ms = self._since
        self._beep_name = None

    # --- events ---
    def swipe(self, card):
        """A card was read. Starts the flow, or stops the card's session."""
        now = self.clock.ticks_ms()
        if card == self._hold_card and self.clock.ticks_diff(now, self._hold_ms) < HOLDOFF_MS:
            return
        self._hold(card)
        p = self._card_port(card)
        if p is not None:
            err = self._stop(p)
            self._message(T.STOPPED if err is None else T.FAILED, p)
            self._beep("start" if err is None else "refusal")
            return
        self.card = card
        self.request = None
        self._beep("swipe")
        self._choose()

    def key(self, k):
        """A keypad key: '0'-'9', '#' or '*'."""
        st = self.state
        if st == IDLE:
            self._message(T.SWIPE_FIRST, None, MESSAGE_MS // 2)
            self._beep("refusal")
        elif st == CHOOSE:
            self._beep("key")
            self._since = self.clock.ticks_ms()
            self._key_choose(k)
        elif st == CONFIRM:
            self._beep("key")
            if k == "#":
                self._ask()
            elif k == "*":
                self._choose()
            else:
                self._choose()
                self._key_choose(k)
        elif st == AUTH:
            if k == "*":
                self._idle()
        elif st == MESSAGE:
            self._leave_message()

    def on_auth_result(self, ok, limit=None, reason=None, rid=None, order=None):
        """The server's answer to authorize(); order: the server's order id for the
        session record. Returns False when nobody waits for it."""
        if self.state != AUTH or (rid is not None and rid != self.request):
            return False  # late (already decided offline), cancelled, or another request
        self.request = None
        if ok:
            self._open(limit or self.default_limit, order)
        else:
            self.deny_reason = reason
            self._refuse(T.CARD_DENIED)
        return True

    def tick(self):
        """Timeouts; call every control tick (or at least every 100 ms)."""
        st = self.state
        if self._hold_card is not None and self.clock.ticks_diff(
                self.clock.ticks_ms(), self._hold_ms) >= HOLDOFF_MS:
            self._hold_card = None  # the holdoff is over: never compared again
        if st == IDLE:
            return
        age = self.clock.ticks_diff(self.clock.ticks_ms(), self._since)
        if st == AUTH:
            if age >= self.auth_timeout_ms:
                self.request = None
                self._offline()
        elif st == CHOOSE and age >= CHOOSE_MS or st == CONFIRM and age >= CONFIRM_MS:
            self._refuse(T.TIMEOUT)
        elif st == MESSAGE and age >= self._msg_ms:
            self._leave_message()

    # --- what to show ---
    def view(self):
        """(screen id, params) for firmware/ui; IDLE's params are the app's to fill."""
        st = self.state
        if st == CHOOSE:
            states = tuple(self._port_states()) if self._port_states else ("idle",) * self.n
            return T.CHOOSE, (self.digits, states, self.error)
        if st == CONFIRM:
            return T.CONFIRM, (self.port,)
        if st == AUTH:
            return T.AUTH, (self.port,)
        if st == MESSAGE:
            return T.MSG, self.msg
        return T.IDLE, ()

    def pop_beep(self):
        """The feedback pattern asked for since the last call (the latest wins), or None."""
        b = self._beep_name
        self._beep_name = None
        return b

    # --- steps ---
    def _key_choose(self, k):
        if k == "*":
            if self.digits:
                self.digits = ""
                self.error = None
            else:
                self._idle()
        elif k == "#":
            if self.digits:
                self._pick(int(self.digits) - 1)
        elif len(self.digits) < MAX_DIGITS:
            self.digits += k
            self.error = None

    def _pick(self, p):
        self.digits = ""
        if not 0 <= p < self.n:
            self.error = T.BAD_PORT
            self._beep("refusal")
            return
        refusal = self._precheck(p)
        if refusal is not None:  # tell now and let them pick another port
            self._message(refusal, None)
            self._then = CHOOSE
            self._beep("refusal")
            return
        self.port = p
        self._enter(CONFIRM)

    def _precheck(self, p):
        if self._port_states is None:
            return None
        st = self._port_states()[p]
        if st == codes.LOCKED:
            return codes.E_PORT_LOCKED
        if st == codes.FAULT:
            return codes.E_PORT_FAULT
        if st in _BUSY:
            return codes.E_PORT_BUSY
        return None

    def _ask(self):
        self.request = self._authorize(self.card, self.port)
        if self.request is None:
            self._offline()  # nothing was sent: no point waiting for an answer
        else:
            self._enter(AUTH)

    def _offline(self):
        if self._offline_ok(self.card):
            self._open(self.offline_limit)
        else:
            self._refuse(T.OFFLINE_UNKNOWN)

    def _open(self, limit, order=None):
        p = self.port
        err = self._start(p, "card:%s" % self.card, limit, order)
        if err is None:
            self._hold(self.card)
            self._message(T.STARTED, p)
            self._beep("start")
        else:
            self._refuse(err)

    def _refuse(self, key):
        self._message(key, None)
        self._beep("refusal")

    # --- state changes ---
    def _enter(self, st):
        self.state = st
        self._since = self.clock.ticks_ms()

    def _choose(self):
        self.digits = ""
        self.error = None
        self.port = None
        self._enter(CHOOSE)

    def _message(self, key, port, ms=MESSAGE_MS):
        self.msg = (key, port)
        self._msg_ms = ms
        self._then = IDLE
        self._enter(MESSAGE)

    def _leave_message(self):
        if self._then == CHOOSE and self.card is not None:
            self._choose()
        else:
            self._idle()

    def _idle(self):
        self.card = None
        self.port = None
        self.digits = ""
        self.error = None
        self.request = None
        self._enter(IDLE)

    def _hold(self, card):
        self._hold_card = card
        self._hold_ms = self.clock.ticks_ms()

    def _beep(self, name):
        self._beep_name = name
