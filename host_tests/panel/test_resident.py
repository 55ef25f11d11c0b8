# The resident flow: swipe, pick a port, confirm, authorise, start; refusals, offline
# fallback, swipe-again-to-stop and the timeouts, on a clock that crosses the tick wrap.
from vclock import VClock

from firmware.core import codes
from firmware.panel import resident as R
from firmware.panel import ui_text as T

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

CARD = "04A1B2C3"
OTHER = "04FFEE01"
N = 10


class Cabinet:
    """The app side: records every call; answers set by the test."""

    def __init__(self, clock, online=True, offline_cards=(), start_result=None):
        self.clock = clock
        self.online = online
        self.offline_cards = offline_cards
        self.start_result = start_result
        self.states = ["idle"] * N
        self.charging = {}  # card -> port
        self.auths = []
        self.starts = []
        self.stops = []
        self.rid = 0

    def authorize(self, card, port):
        self.auths.append((card, port))
        if not self.online:
            return None
        self.rid += 1
        return "r%d" % self.rid

    def start(self, port, auth, limit, order=None):
        self.starts.append((port, auth, limit) if order is None else (port, auth, limit, order))
        if self.start_result is None:
            self.states[port] = codes.OPEN
            self.charging[auth[5:]] = port
        return self.start_result

    def stop(self, port):
        self.stops.append(port)
        for card in list(self.charging):
            if self.charging[card] == port:
                del self.charging[card]
        self.states[port] = codes.ENDED
        return None


def _flow(**kw):
    clock = VClock()  # starts 600 s before the 2**30 tick wrap
    clock.advance_ms(599000)  # the timeouts below cross the wrap
    cab = Cabinet(clock, **kw)
    flow = R.Resident(clock, N, cab.authorize, cab.start, cab.stop, cab.charging.get,
                      lambda c: c in cab.offline_cards, port_states=lambda: cab.states)
    return clock, cab, flow


def _keys(flow, keys):
    for k in keys:
        flow.key(k)


def test_swipe_choose_confirm_starts_the_port_typed():
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    assert flow.view()[0] == T.CHOOSE
    assert flow.pop_beep() == "swipe" and flow.pop_beep() is None
    _keys(flow, "7#")
    assert flow.pop_beep() == "key"
    assert flow.view() == (T.CONFIRM, (6,))  # resident's 7 is port 6 inside
    flow.key("#")
    assert cab.auths == [(CARD, 6)]
    assert flow.view() == (T.AUTH, (6,))
    assert flow.on_auth_result(True, {"minutes": 240}, None, rid="r1")
    assert cab.starts == [(6, "card:" + CARD, {"minutes": 240})]
    assert flow.view() == (T.MSG, (T.STARTED, 6))
    assert flow.pop_beep() == "start"


def test_the_servers_order_id_reaches_the_session_start():
    # auth_result may carry the server's order (PROTOCOL.md): the session record keeps it
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    _keys(flow, "3##")
    assert flow.on_auth_result(True, {"fen": 300}, None, rid="r1", order="ORD-42")
    assert cab.starts == [(2, "card:" + CARD, {"fen": 300}, "ORD-42")]


def test_choose_screen_shows_digits_and_port_states():
    clock, cab, flow = _flow()
    cab.states[2] = codes.CHARGING
    flow.swipe(CARD)
    flow.key("1")
    screen, (digits, states, err) = flow.view()
    assert (screen, digits, err) == (T.CHOOSE, "1", None)
    assert states[2] == codes.CHARGING and len(states) == N
    _keys(flow, "0#")
    assert flow.view() == (T.CONFIRM, (9,))  # two digits: port 10


def test_star_clears_digits_then_cancels_and_goes_back_from_confirm():
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    _keys(flow, "4*")
    assert flow.view()[1][0] == ""
    _keys(flow, "4##")
    assert flow.state == R.AUTH
    flow.key("*")  # cancel while waiting for the server
    assert flow.state == R.IDLE
    assert not flow.on_auth_result(True, None, None, rid="r1")  # a late yes changes nothing
    assert cab.starts == []
    flow.swipe(OTHER)
    _keys(flow, "2#*")  # back from confirm
    assert flow.view()[0] == T.CHOOSE
    flow.key("*")
    assert flow.state == R.IDLE
    assert cab.auths == [(CARD, 3)] and cab.starts == []


def test_port_number_out_of_range_stays_on_choose_with_a_message():
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    _keys(flow, "11#")
    assert flow.view()[0] == T.CHOOSE and flow.view()[1][2] == T.BAD_PORT
    _keys(flow, "0#")
    assert flow.view()[0] == T.CHOOSE and flow.view()[1][2] == T.BAD_PORT  # port 0
    assert cab.auths == [] and cab.starts == []
    _keys(flow, "5#")
    assert flow.view() == (T.CONFIRM, (4,))


def test_busy_locked_faulty_port_refused_before_asking_the_server():
    for state, code in ((codes.CHARGING, codes.E_PORT_BUSY), (codes.DEFERRED, codes.E_PORT_BUSY),
                        (codes.LOCKED, codes.E_PORT_LOCKED), (codes.FAULT, codes.E_PORT_FAULT)):
        clock, cab, flow = _flow()
        cab.states[3] = state
        flow.swipe(CARD)
        _keys(flow, "4#")
        assert flow.view() == (T.MSG, (code, None)), state
        assert flow.pop_beep() == "refusal"
        # the message says "choose another port": a key goes back to choosing, same card
        flow.key("1")
        assert flow.view()[0] == T.CHOOSE and flow.card == CARD
        _keys(flow, "1##")
        assert cab.auths == [(CARD, 0)]  # never asked for the refused port
        flow.on_auth_result(True, None, None, rid="r1")
        assert cab.starts == [(0, "card:" + CARD, R.DEFAULT_LIMIT)]


def test_each_start_refusal_shows_its_message_and_is_not_retried():
    for code in (codes.E_PORT_BUSY, codes.E_PORT_LOCKED, codes.E_PORT_FAULT,
                 codes.E_FEEDER_FULL, codes.E_BAD_ARGS):
        clock, cab, flow = _flow(start_result=code)
        flow.swipe(CARD)
        _keys(flow, "2##")
        flow.on_auth_result(True, {"wh": 500}, None, rid="r1")
        assert flow.view() == (T.MSG, (code, None)), code
        assert flow.pop_beep() == "refusal"
        for _ in range(10):  # the message runs out: nothing else is tried
            clock.advance_ms(1000)
            flow.tick()
        assert flow.state == R.IDLE
        assert len(cab.starts) == 1 and cab.stops == [], code
        assert T.message(T.ZH, code) != code and T.message(T.EN, code) != code  # has words


def test_server_says_no():
    clock, cab, flow = _flow(offline_cards=(CARD,))
    flow.swipe(CARD)
    _keys(flow, "2##")
    flow.on_auth_result(False, None, "no_balance", rid="r1")
    assert flow.view() == (T.MSG, (T.CARD_DENIED, None)) and flow.deny_reason == "no_balance"
    clock.advance_ms(R.AUTH_TIMEOUT_MS + 1000)
    flow.tick()
    assert cab.starts == []  # a "no" is final, even for a card on the offline list


def test_auth_timeout_falls_back_to_the_offline_list_at_5_s():
    clock, cab, flow = _flow(offline_cards=(CARD,))
    assert R.AUTH_TIMEOUT_MS == 5000
    flow.swipe(CARD)
    _keys(flow, "3##")
    clock.advance_ms(4999)
    flow.tick()
    assert flow.state == R.AUTH and cab.starts == []
    clock.advance_ms(1)
    flow.tick()
    assert cab.starts == [(2, "card:" + CARD, R.OFFLINE_LIMIT)]
    assert flow.view() == (T.MSG, (T.STARTED, 2))
    assert not flow.on_auth_result(False, None, None, rid="r1")  # too late: ignored
    assert flow.view() == (T.MSG, (T.STARTED, 2))


def test_auth_timeout_card_not_on_the_offline_list_is_refused():
    clock, cab, flow = _flow(offline_cards=(OTHER,))
    flow.swipe(CARD)
    _keys(flow, "3##")
    clock.advance_ms(R.AUTH_TIMEOUT_MS)
    flow.tick()
    assert flow.view() == (T.MSG, (T.OFFLINE_UNKNOWN, None))
    assert cab.starts == []


def test_no_network_decides_offline_at_once():
    clock, cab, flow = _flow(online=False, offline_cards=(CARD,))
    flow.swipe(CARD)
    _keys(flow, "3##")  # authorize() could not send: no 5 s wait
    assert cab.starts == [(2, "card:" + CARD, R.OFFLINE_LIMIT)]
    clock, cab, flow = _flow(online=False)
    flow.swipe(CARD)
    _keys(flow, "3##")
    assert flow.view() == (T.MSG, (T.OFFLINE_UNKNOWN, None)) and cab.starts == []


def test_an_answer_for_another_request_is_ignored():
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    _keys(flow, "3##")
    assert not flow.on_auth_result(True, None, None, rid="r0")
    assert flow.state == R.AUTH and cab.starts == []


def test_second_swipe_stops_the_cards_session():
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    _keys(flow, "5##")
    flow.on_auth_result(True, None, None, rid="r1")
    assert cab.charging == {CARD: 4}
    flow.swipe(CARD)  # a double tap right after starting is not a stop
    assert cab.stops == []
    clock.advance_ms(R.HOLDOFF_MS)
    flow.swipe(CARD)
    assert cab.stops == [4]
    assert flow.view() == (T.MSG, (T.STOPPED, 4))
    assert cab.starts == [(4, "card:" + CARD, R.DEFAULT_LIMIT)]  # nothing started again
    clock.advance_ms(R.HOLDOFF_MS)
    flow.swipe(OTHER)  # another card that is not charging starts a new flow
    assert flow.view()[0] == T.CHOOSE and cab.stops == [4]


def test_every_state_times_out_back_to_idle():
    # choose 30 s, confirm 20 s: a "timed out" message, which goes after 6 s
    for keys, limit_ms in (("", R.CHOOSE_MS), ("1#", R.CONFIRM_MS)):
        clock, cab, flow = _flow()
        flow.swipe(CARD)
        _keys(flow, keys)
        clock.advance_ms(limit_ms - 1)
        flow.tick()
        assert flow.state != R.MESSAGE
        clock.advance_ms(1)
        flow.tick()
        assert flow.view() == (T.MSG, (T.TIMEOUT, None))
        clock.advance_ms(R.MESSAGE_MS)
        flow.tick()
        assert flow.view() == (T.IDLE, ())
        assert cab.auths == [] and cab.starts == []
    # a key press restarts the choose timer
    clock, cab, flow = _flow()
    flow.swipe(CARD)
    clock.advance_ms(R.CHOOSE_MS - 1000)
    flow.key("2")
    clock.advance_ms(R.CHOOSE_MS - 1000)
    flow.tick()
    assert flow.state == R.CHOOSE


def test_key_without_a_card_says_swipe_first():
    clock, cab, flow = _flow()
    flow.key("3")
    assert flow.view() == (T.MSG, (T.SWIPE_FIRST, None))
    clock.advance_ms(R.MESSAGE_MS // 2)
    flow.tick()
    assert flow.state == R.IDLE and cab.auths == []


def test_timeouts_are_as_documented():
    assert (R.CHOOSE_MS, R.CONFIRM_MS, R.MESSAGE_MS, R.HOLDOFF_MS) == (30000, 20000, 6000, 3000)
