"""A port's journal round trip (firmware/store/persist.py with core/port.py): what
Port.snapshot() gives the journal, and what Port.restore() makes of it at the next boot.

The whole-cabinet power-cut campaigns are test_persist.py and test_power_cut_campaign.py;
here one boot, one cut, one boot again, with the numbers each step must keep."""

import json
import os
import sys

import flashdir
from mpy import ROOT
from vclock import CLOCK

sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from benchboard import Board  # noqa: E402

from firmware.core import codes  # noqa: E402
from firmware.core.app import App  # noqa: E402
from firmware.core.billing import Bill  # noqa: E402
from firmware.core.session import Session  # noqa: E402
from firmware.store.journal import Journal  # noqa: E402
from firmware.store.outbox import Outbox  # noqa: E402
from firmware.store.persist import Persist  # noqa: E402
from firmware.system import config as config_mod  # noqa: E402

TICK_MS = 250


def boot(d, **over):
    """The cabinet booting on flash directory d (as after a power cut when d is used)."""
    c = {"ports": 2}
    c.update(over)
    cfg, problems = config_mod.validate(c)
    assert not problems, problems
    persist = Persist(Journal(d, 2, CLOCK, cfg["checkpoint_s"]), Outbox(d, prefix="t-"))
    board = Board(2)
    return App(board, cfg, lambda ev: None, persist), board


def run(app, ms):
    for _ in range(ms // TICK_MS):
        CLOCK.advance_ms(TICK_MS)
        app.tick()


def records(outbox):
    """(kind, payload) of every pending record, oldest first (acknowledged as read)."""
    out = []
    while True:
        h = outbox.peek()
        if h is None:
            return out
        out.append((h[1], json.loads(h[2])))
        outbox.ack(h[0])


def test_snapshot_is_what_the_journal_keeps():
    app, _ = boot(flashdir.fresh("snap"))
    assert app.start(0, "remote", {"wh": 500}) is None
    run(app, 15000)  # past the boot hold: the relay closed, the charger draws 180 W
    port = app.ports[0]
    state, lock, s, last_e, resume = port.snapshot()
    assert (state, lock, resume) == (codes.CHARGING, None, None)
    assert s is port.session and s.mwh > 0 and last_e == app.meters.energy_mwh[0]
    assert app.ports[1].snapshot() == (codes.IDLE, None, None, 0, None)


def test_a_port_mid_session_comes_back_deferred_and_charges_on():
    d = flashdir.fresh("mid")
    app, _ = boot(d)
    assert app.start(0, "remote", {"wh": 500}) is None
    run(app, 75000)  # the boot hold, then 65 s charging: one checkpoint (checkpoint_s 60)
    live = app.session(0)
    sid = live.sid
    kept = app.persist.journal.load()[0][0]["session"]  # what the cut leaves on flash
    assert 55000 <= kept["charge_ms"] <= live.charge_ms and kept["mwh"] > 0
    # Power cut: the next boot restores the port before any relay may close.
    app2, board2 = boot(d)
    port = app2.ports[0]
    s = port.session
    assert (s.sid, s.charge_ms, s.mwh) == (sid, kept["charge_ms"], kept["mwh"])
    assert list(s.bill.state()) == kept["bill"]
    assert port.state == codes.DEFERRED and port.resume_state == codes.CHARGING
    assert not port.relay_on and not board2.relays.cmd[0]
    assert app2.ports[1].session is None and app2.port_state(1) == codes.IDLE
    # One start record on the wire, not two: the journal's pending copy was dropped.
    starts = [p for k, p in records(app2.persist.outbox) if k == "session_start"]
    assert [p["sid"] for p in starts] == [sid]
    run(app2, 5000)
    assert not port.relay_on, "a relay closed inside the boot hold"
    run(app2, 10000)
    assert port.relay_on and port.state == codes.CHARGING
    assert port.session.charge_ms > kept["charge_ms"]


def test_a_locked_port_stays_locked_and_without_resume_the_session_ends():
    d = flashdir.fresh("lock")
    app, _ = boot(d)
    assert app.start(0, "remote", {"full": True}) is None
    app.ports[1].lock(codes.OVERCURRENT)
    run(app, 1000)
    app2, _ = boot(d, resume_after_power_loss=False)
    assert app2.port_state(1) == codes.LOCKED and app2.lock_reason(1) == codes.OVERCURRENT
    assert app2.session(0) is None and app2.port_state(0) == codes.ENDED
    ends = [p for k, p in records(app2.persist.outbox) if k == "session_end"]
    assert [p["reason"] for p in ends] == [codes.POWER_LOSS]
    assert app2.start(1, "remote", {"full": True}) == codes.E_PORT_LOCKED


def test_a_session_judged_full_before_the_cut_floats_again():
    app, _ = boot(flashdir.fresh("float"))
    port = app.ports[0]
    s = Session("c-1-1", 0, "remote", "full", 0, None, CLOCK.time(), Bill(app.tariff))
    port.restore((codes.FLOAT, None, s, 0, None), True)
    assert port.session is s and port.state == codes.DEFERRED
    assert port.resume_state == codes.FLOAT
    assert port.judge.loaded and port.judge.float_ms == 0
