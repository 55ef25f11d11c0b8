# The front panel (firmware/panel/panel.py) around the resident flow (resident.py), with a
# fake app, card reader, keypad and cloud on the virtual clock: a card accepted or refused
# while the cabinet is offline, the port chosen on the keypad reaching App.start, a second
# swipe stopping the session, a critical alarm taking the screen over any flow, and panel
# faults counted and reported once without reaching the control loop.
from vclock import VClock

from drivers import board as contract
from firmware.core import codes
from firmware.panel import resident as R
from firmware.panel import ui_text as T
from firmware.panel.panel import READER_MS, Panel

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

CARD = "04A1B2C3"
UID = b"\x04\xa1\xb2\xc3"
N = 4
CFG = {"lang": "zh", "qr": True, "cabinet_id": "sim-001", "tz_offset_h": 8}


class Session:
    def __init__(self, auth):
        self.auth = auth


class App:
    """The calls the panel makes on firmware/core/app.py's App, recorded."""

    def __init__(self, clock):
        self.clock = clock
        self.n = N
        self.state = [codes.IDLE] * N
        self.sessions = [None] * N
        self.starts = []
        self.stops = []
        self.raised = []
        self.cleared = []
        self.critical = None

    def start(self, port, auth, limit, order=None):
        self.starts.append((port, auth, limit, order))
        self.state[port] = codes.OPEN
        self.sessions[port] = Session(auth)
        return None

    def stop(self, port, reason):
        self.stops.append((port, reason))
        self.state[port] = codes.ENDED
        self.sessions[port] = None
        return None

    def session(self, p):
        return self.sessions[p]

    def port_state(self, p):
        return self.state[p]

    def critical_alarm(self):
        return self.critical

    def raise_alarm(self, code, port, level, detail=None):
        self.raised.append((code, port, level))

    def clear_alarm(self, code, port):
        self.cleared.append((code, port))


class Reader:
    """The MFRC522 driver's surface: poll() -> UID bytes or None, and `healthy`."""

    def __init__(self):
        self.cards = []
        self.healthy = True

    def poll(self):
        return self.cards.pop(0) if self.cards else None


class Keypad:
    def __init__(self):
        self.keys = []

    def scan(self):
        return self.keys.pop(0) if self.keys else None


class Board(contract.Board):
    """A reader and a keypad; no display or buzzer (the contract's null parts)."""

    def __init__(self, clock):
        contract.Board.__init__(self)
        self.clock = clock
        self.reader = Reader()
        self.keypad = Keypad()


class Cloud:
    """Offline unless `online`: request_auth() returns no handle, card_ok() the list."""

    def __init__(self, offline_cards=(), online=False):
        self.offline_cards = offline_cards
        self.online = online
        self.asked = []

    def request_auth(self, card, port):
        self.asked.append((card, port))
        return "r1" if self.online else None

    def card_ok(self, card):
        return card in self.offline_cards


def _panel(cloud=None):
    clock = VClock()
    app = App(clock)
    board = Board(clock)
    panel = Panel(app, board, CFG, cloud)
    return clock, app, board, panel


def _run(clock, panel, ms, step_ms=20):
    for _ in range(ms // step_ms):
        clock.advance_ms(step_ms)
        panel.step()


def _swipe_and_choose(clock, board, panel, port_label):
    board.reader.cards.append(UID)
    _run(clock, panel, READER_MS + 40)
    assert panel.flow.state == R.CHOOSE
    board.keypad.keys.extend(list(port_label) + ["#", "#"])  # type, pick, confirm
    _run(clock, panel, 200)


def test_offline_card_on_the_list_starts_the_port_typed_on_the_keypad():
    cloud = Cloud(offline_cards=(CARD,))
    clock, app, board, panel = _panel(cloud)
    _swipe_and_choose(clock, board, panel, "3")
    assert cloud.asked == [(CARD, 2)]  # keypad "3" is port 2 inside
    assert app.starts == [(2, "card:" + CARD, R.OFFLINE_LIMIT, None)]
    assert panel.flow.view() == (T.MSG, (T.STARTED, 2))


def test_offline_card_not_on_the_list_is_refused_and_nothing_starts():
    cloud = Cloud(offline_cards=("04FFEE01",))
    clock, app, board, panel = _panel(cloud)
    _swipe_and_choose(clock, board, panel, "1")
    assert app.starts == []
    assert panel.flow.view() == (T.MSG, (T.OFFLINE_UNKNOWN, None))


def test_online_card_waits_for_the_server_then_starts_with_its_limit():
    cloud = Cloud(online=True)
    clock, app, board, panel = _panel(cloud)
    _swipe_and_choose(clock, board, panel, "4")
    assert panel.flow.state == R.AUTH and app.starts == []
    assert panel.on_auth_result(True, {"minutes": 60}, rid="r1", order="o-1")
    assert app.starts == [(3, "card:" + CARD, {"minutes": 60}, "o-1")]


def test_a_busy_port_is_refused_before_asking_and_another_can_be_picked():
    cloud = Cloud(offline_cards=(CARD,))
    clock, app, board, panel = _panel(cloud)
    app.state[1] = codes.CHARGING
    board.reader.cards.append(UID)
    _run(clock, panel, READER_MS + 40)
    board.keypad.keys.extend(["2", "#"])
    _run(clock, panel, 100)
    assert cloud.asked == [] and panel.flow.view() == (T.MSG, (codes.E_PORT_BUSY, None))
    board.keypad.keys.extend(["*", "1", "#", "#"])  # any key leaves the message
    _run(clock, panel, 200)
    assert [s[0] for s in app.starts] == [0]


def test_the_same_card_again_after_the_holdoff_stops_its_session():
    cloud = Cloud(offline_cards=(CARD,))
    clock, app, board, panel = _panel(cloud)
    _swipe_and_choose(clock, board, panel, "2")
    board.reader.cards.append(UID)  # at once: the holdoff ignores a double tap
    _run(clock, panel, READER_MS + 40)
    assert app.stops == []
    _run(clock, panel, R.HOLDOFF_MS)
    board.reader.cards.append(UID)
    _run(clock, panel, READER_MS + 40)
    assert app.stops == [(1, codes.USER_STOP)]


def test_a_critical_alarm_takes_the_screen_over_the_flow_and_gives_it_back():
    cloud = Cloud(offline_cards=(CARD,))
    clock, app, board, panel = _panel(cloud)
    board.reader.cards.append(UID)
    _run(clock, panel, READER_MS + 40)
    now = clock.ticks_ms()
    assert panel._screen(now)[0] == T.CHOOSE
    app.critical = (codes.A_SMOKE, None)
    assert panel._screen(now) == (T.ALARM, (codes.A_SMOKE, None))
    app.critical = None
    assert panel._screen(now)[0] == T.CHOOSE


def test_idle_screens_rotate_and_the_grid_shows_the_port_states():
    clock, app, board, panel = _panel(None)
    app.state[0] = codes.CHARGING
    seen = []
    for _ in range(4):
        screen = panel._screen(clock.ticks_ms())
        seen.append(screen[0])
        if screen[0] == T.GRID:
            assert screen[1] == ((codes.CHARGING,) + (codes.IDLE,) * (N - 1),)
        if screen[0] == T.IDLE:
            assert screen[1][:3] == ("sim-001", N - 1, N)  # free ports of all
        clock.advance_ms(5000)
    assert seen[:3] == [T.IDLE, T.GRID, T.QR]


def test_a_sick_reader_raises_one_warning_and_clears_it_when_healthy():
    clock, app, board, panel = _panel(None)
    board.reader.healthy = False
    _run(clock, panel, 3 * READER_MS)
    assert app.raised == [(codes.A_SENSOR_FAULT, None, codes.WARNING)]
    board.reader.healthy = True
    _run(clock, panel, READER_MS + 40)
    assert app.cleared == [(codes.A_SENSOR_FAULT, None)]


def test_a_panel_part_that_raises_is_counted_and_reported_once():
    clock, app, board, panel = _panel(None)

    def broken():
        raise OSError(5)

    board.keypad.scan = broken
    _run(clock, panel, 200)
    assert panel.errors == 10
    assert app.raised == [(codes.A_SENSOR_FAULT, None, codes.WARNING)]
