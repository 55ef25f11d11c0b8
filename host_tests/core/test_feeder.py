"""Orderly charging (firmware/core/feeder.py) on a small cabinet whose chargers draw what
each test says: admission against feeder_limit_w, staggered relay closings, shedding the
newest session on overload, resuming the oldest when there is room again."""

from vclock import CLOCK

from drivers import board as contract
from firmware.core import codes
from firmware.core.app import App
from firmware.system import config as config_mod

DUAL = True  # also runs on the unix port (test_dual_on_unix_port.py)
TICK_MS = 250


class Meters(contract.Meters):
    """Each port draws draw_mw[p] while its relay is closed; a fresh reading every poll."""

    def __init__(self, n, relays):
        self.relays = relays
        self.draw_mw = [0] * n
        self.mw = [0] * n
        self.ma = [0] * n
        self.mv = [230000] * n
        self.energy_mwh = [0] * n
        self.frames = [0] * n

    def poll(self):
        for p in range(len(self.mw)):
            self.frames[p] += 1
            mw = self.draw_mw[p] if self.relays.on[p] else 0
            self.mw[p] = mw
            self.ma[p] = mw // 230
            self.energy_mwh[p] += mw * TICK_MS // 3600000

    def silent(self, p):
        return False


class Relays:
    def __init__(self, n):
        self.on = [False] * n

    def set(self, p, on):
        self.on[p] = on


class Sensors(contract.Sensors):
    def cabinet_c10(self):
        return 250

    def smoke(self):
        return False


class Board(contract.Board):
    def __init__(self, n):
        contract.Board.__init__(self)
        self.clock = CLOCK
        self.relays = Relays(n)
        self.meters = Meters(n, self.relays)
        self.sensors = Sensors()


def cabinet(n=3, **cfg):
    c = {"ports": n, "feeder_limit_w": 500, "start_reserve_w": 200, "boot_hold_s": 0,
         "relay_stagger_ms": 1000}
    c.update(cfg)
    cfg, problems = config_mod.validate(c)
    assert not problems, problems
    board = Board(n)
    events = []
    app = App(board, cfg, events.append)
    return app, board, events


def run(app, ms):
    for _ in range(ms // TICK_MS):
        CLOCK.advance_ms(TICK_MS)
        app.tick()


def alarms(events, code):
    return [e["state"] for e in events if e.get("ev") == "alarm" and e["code"] == code]


def test_admission_counts_a_reserve_for_each_port_about_to_draw():
    # 500 W shared, 200 W reserved per new session: two fit, the third waits its turn.
    app, board, _ = cabinet()
    for p in range(3):
        assert app.start(p, "remote", {"full": True}) is None
    assert [app.port_state(p) for p in range(3)] == ["open", "open", "deferred"]
    assert app.ports[2].resume_state == "open"
    assert app.feeder.load_mw() == 400000  # two reserves: nothing measured yet


def test_a_full_feeder_refuses_when_configured_to():
    app, _, _ = cabinet(feeder_full_action="refuse")
    assert app.start(0, "remote", {"full": True}) is None
    assert app.start(1, "remote", {"full": True}) is None
    assert app.start(2, "remote", {"full": True}) == codes.E_FEEDER_FULL
    assert app.session(2) is None and app.port_state(2) == "idle"


def test_relays_close_one_per_stagger_oldest_session_first():
    app, board, _ = cabinet(n=3, feeder_limit_w=2000)
    for p in (2, 0, 1):  # start order: 2, 0, 1
        assert app.start(p, "remote", {"full": True}) is None
    closed = []
    for _ in range(16):  # 4 s
        CLOCK.advance_ms(TICK_MS)
        app.tick()
        for p in range(3):
            if board.relays.on[p] and p not in closed:
                closed.append(p)
    assert closed == [2, 0, 1]
    assert all(port.relay_on and not port.want_on for port in app.ports)


def test_overload_pauses_the_newest_then_resumes_it_when_there_is_room():
    app, board, events = cabinet(n=2)
    board.meters.draw_mw[:] = [300000, 300000]  # 600 W on a 500 W feeder
    assert app.start(0, "remote", {"full": True}) is None
    assert app.start(1, "remote", {"full": True}) is None
    run(app, 5000)  # both close (staggered), the load is measured, a shed gap passes
    assert app.port_state(1) == "deferred" and not board.relays.on[1], "newest not paused"
    assert board.relays.on[0] and app.port_state(0) == "charging"
    assert alarms(events, codes.A_FEEDER_OVERLOAD) == ["raised"]
    assert app.feeder.need_mw[1] == 300000
    assert app.ports[1].resume_state == "charging"
    # The first charger tapers to 100 W: 100 + 300 fits, but a paused charger rests 60 s.
    board.meters.draw_mw[0] = 100000
    run(app, 50000)
    assert app.port_state(1) == "deferred", "resumed before its minimum pause"
    run(app, 15000)
    assert app.port_state(1) == "charging" and board.relays.on[1]
    assert alarms(events, codes.A_FEEDER_OVERLOAD) == ["raised", "cleared"]
    s = app.session(1)
    assert s is not None and s.charge_ms < 10000  # paused time is neither timed nor billed


def test_offpeak_start_is_the_next_offpeak_hour_local_time():
    app, _, _ = cabinet(offpeak_hour=23, tz_offset_h=8)
    noon = 1764201600 + 4 * 3600  # 2025-11-27 12:00 local (UTC+8)
    assert app.feeder.offpeak_epoch(noon) == noon + 11 * 3600
    assert app.feeder.offpeak_epoch(noon + 11 * 3600 + 60) == noon + 11 * 3600 + 60
    assert app.feeder.offpeak_epoch(noon - 9 * 3600) == noon - 9 * 3600  # 03:00: still in it
