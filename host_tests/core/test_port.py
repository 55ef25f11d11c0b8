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
