"""One port's own thresholds (firmware/core/port.py): the hard cap max_session_s is a live
config key, so a `config` command changes it for the sessions already running."""

import os
import sys

from mpy import ROOT
from vclock import CLOCK

sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from benchboard import Board  # noqa: E402

from firmware.core import codes  # noqa: E402
from firmware.core.app import App  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402

TICK_MS = 250


def _run(app, ms):
    for _ in range(ms // TICK_MS):
        CLOCK.advance_ms(TICK_MS)
        app.tick()


def test_a_live_max_session_s_caps_a_running_session_at_once():
    cfg, problems = config_mod.validate({"ports": 2, "boot_hold_s": 0})
    assert not problems, problems
    events = []
    app = App(Board(2), cfg, events.append)
    assert app.start(0, "remote", {"full": True}) is None
    _run(app, 700 * 1000)
    assert app.session(0) is not None and app.port_state(0) == codes.CHARGING
    cfg["max_session_s"] = 600  # what settings.apply does with a `config` command ...
    app.configure(cfg, ("max_session_s",))  # ... then tells the app
    _run(app, 2 * TICK_MS)
    assert app.session(0) is None, "the new cap did not reach the running session"
    assert app.port_state(0) == codes.ENDED
    assert [e["reason"] for e in events if e["ev"] == "session_end"] == [codes.MAX_DURATION]


def test_the_cap_ends_a_session_at_max_session_s_of_charge():
    cfg, _ = config_mod.validate({"ports": 1, "boot_hold_s": 0, "max_session_s": 600})
    events = []
    app = App(Board(1), cfg, events.append)
    assert app.start(0, "remote", {"full": True}) is None
    _run(app, 550 * 1000)
    assert app.session(0) is not None
    _run(app, 100 * 1000)
    ends = [e for e in events if e["ev"] == "session_end"]
    assert [(e["reason"], e["charge_s"]) for e in ends] == [(codes.MAX_DURATION, 600)]


def test_overpower_trips_after_the_hold_and_a_dip_restarts_the_hold():
    from stepclock import Clock

    from drivers.board import NoPortSensors
    from firmware.core.protection import NOT_OVER, Guard, Protection

    cfg, _ = config_mod.validate({})
    clock = Clock(1764201600)
    pr = Protection(clock, NoPortSensors(), None, cfg)
    g = Guard(0)
    hold = pr.hold_ms
    over = pr.limit_mw + 50000
    ma = 3000  # under the current limit: only the power check speaks

    def read(mw):
        return pr.reading(g, clock.ms, mw, ma, 230000, True)

    # over the limit for most of the hold, one dip, again: never the whole hold in a row
    for _ in range(3):
        for _ in range(hold // 1000 - 1):
            assert read(over) is None
            clock.ms += 1000
        assert read(100000) is None and g.over_since == NOT_OVER
        clock.ms += 1000
    # then over for the whole hold: the verdict
    verdicts = []
    for _ in range(hold // 1000 + 1):
        verdicts.append(read(over))
        clock.ms += 1000
    assert verdicts[:-1] == [None] * (hold // 1000) and verdicts[-1][0] == codes.OVERPOWER
    g.relay_changed(False, clock.ms)  # the relay opened: the hold starts again
    assert g.over_since == NOT_OVER
