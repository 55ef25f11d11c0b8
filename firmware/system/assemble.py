# The one assembly of the firmware: config overrides, boot guard, store, app, wall clock,
# cloud and panel, wired the same way for every runner.
#
#   cab = build(cfg, board, state_dir, emit, crashed=..., power_up=..., set_rtc=...)
#   up = Uplink(..., cab.cloud.on_command, idle, cab.cloud.status_payload(), ...)
#   cab.connect_uplink(up)
#   loop: cab.control(); cab.service(); up.step(); if cab.reboot_due(): cab.prepare_reset()
#
# Runners: main.py (the device), tools/sim/run.py with simlink.py (the simulator),
# tools/sim/devicevm.py (the split day's device half) and the benches. Whatever differs
# between them is an argument here (the board, the event sink, the RTC setter, whether a
# front panel runs), never a second copy of the wiring: a config override, the boot
# guard's count and the problems' alarms are the same on all of them.
#
# Safe mode (bootguard.safe_mode: a crash loop or the service button held): the app is a
# firmware.system.safemode.SafeApp (no journal, no meters, relays off), the cloud a
# SafeCloud, no panel; cab.safe is True and control() does nothing.
import json
import os

from firmware.core import codes
from firmware.core.app import App
from firmware.protocol.cloud import Cloud, load_overrides
from firmware.store.journal import Journal
from firmware.store.outbox import Outbox
from firmware.store.persist import Persist
from firmware.system import bootguard
from firmware.system.wallclock import WallClock

TYPE_CHECKING = False  # pyright reads the block below; the device never runs it
if TYPE_CHECKING:
    from typing import Any  # noqa: F401 (used in the type comments)


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass  # already there


def _no_rtc(unix_s, ms=0):
    pass  # a runner without an RTC to set


def _no_tick():
    pass  # safe mode: nothing to control, every relay stays off


def make_cloud(app, state_dir, outbox, set_time=None, rssi=None, cls=Cloud):
    """The protocol side of an app: the one place a Cloud is constructed."""
    return cls(app, state_dir, outbox, set_time=set_time, rssi=rssi)


def build(cfg, board, state_dir, emit, crashed=False, power_up=True, set_rtc=None,
          panel=True, problems=()):
    """The Cabinet for cfg (overridden by the `config` commands kept in state_dir).

    board: the Board (drivers/board.py), or a function cfg -> Board for a board that
    depends on the config (the real one: its pin map may be overridden).
    crashed: this boot follows a crash (bootguard.note_boot); power_up: the RTC restarted.
    problems: what loading the config found (alarmed with the others)."""
    _mkdir(state_dir)
    cfg, more = load_overrides(state_dir, cfg)  # what `config` commands changed since
    problems = list(problems) + more
    b = board(cfg) if callable(board) else board  # type: Any  # relays off from here
    crashes = bootguard.note_boot(state_dir, crashed)
    why = bootguard.safe_mode(crashes, b.service_held())
    return Cabinet(cfg, b, state_dir, emit, crashes, why, power_up, set_rtc or _no_rtc,
                   panel, problems + b.problems)


class Cabinet:
    """One booted firmware: app, persist, outbox, wall clock, cloud, panel (None when no
    front panel runs, and in safe mode), the uplink once connected."""

    def __init__(self, cfg, board, state_dir, emit, crashes, why, power_up, set_rtc,
                 panel, problems):
        self.cfg = cfg
        self.board = board
        self.state_dir = state_dir
        self.crashes = crashes  # crashes in a row before this boot
        self.why = why  # None, or why this is safe mode
        self.problems = problems
        self.uplink = None
        self.net = None  # the runner's network side (main.Net), for tests and the REPL
        self.link_rssi = None  # rssi() -> dBm of the network link, once there is one
        self.up_ms = 0  # ran since this boot, until it is marked stable (then -1)
        self.outbox = Outbox(state_dir, prefix=cfg["cabinet_id"] + "-")
        self.wall = WallClock(board.clock, state_dir, set_rtc, power_up)
        self.panel = None
        self._tick = _no_tick
        if self.safe:
            self._build_safe(emit)
        else:
            self._build_app(emit, panel)

    @property
    def clock(self):
        return self.board.clock

    @property
    def safe(self):
        return self.why is not None  # safe mode: SafeApp, SafeCloud, relays off

    @property
    def stable(self):
        return self.up_ms < 0  # the boot guard has marked this boot stable

    def _build_safe(self, emit):
        from firmware.system.safemode import SafeApp, SafeCloud

        d = self.state_dir
        self.persist = None
        self.app = SafeApp(self.board, self.cfg, self.outbox, self.crashes,
                           lambda: bootguard.mark_stable(d), self.why, self.wall)
        self.app.raise_alarm(codes.A_SAFE_MODE, None, codes.CRITICAL, self.why)
        self.problems = self.problems + ["safe mode: " + self.why]
        self.cloud = make_cloud(self.app, d, self.outbox, self.wall.set, self._rssi,
                                SafeCloud)

    def _build_app(self, emit, with_panel):
        cfg = self.cfg
        board = self.board
        journal = Journal(self.state_dir, cfg["ports"], board.clock, cfg["checkpoint_s"])
        # Records made before the wall clock is known are tagged (wallclock.py).
        self.persist = Persist(journal, self.outbox, self.wall.tag)
        self.app = app = App(board, cfg, emit, self.persist, self.wall)
        self._tick = app.tick  # bound once: control() runs every tick and allocates nothing
        for problem in self.problems:
            code = codes.A_SENSOR_FAULT if problem in board.problems else codes.A_CONFIG
            app.raise_alarm(code, None, codes.WARNING, problem)
        self.cloud = cloud = make_cloud(app, self.state_dir, self.outbox, self.wall.set,
                                        self._rssi)
        if with_panel:
            from firmware.panel.panel import Panel  # the device VM runs without one

            self.panel = panel = Panel(app, board, cfg, cloud)
            cloud.on_auth = (  # pyright: ignore[reportAttributeAccessIssue]
                lambda rid, ok, limit, order: panel.on_auth_result(ok, limit, None, rid, order))

    def _rssi(self):
        f = self.link_rssi
        return f() if f is not None else None

    # --- the runner's side ---
    def connect_uplink(self, uplink, rssi=None):
        """The MQTT uplink built around cloud.on_command (firmware/link/uplink.py)."""
        self.link_rssi = rssi
        uplink.restamp = self.wall.restamp  # true times on the wire, held while unknown
        self.cloud.attach(uplink)
        self.uplink = uplink

    def control(self):
        """The control tick: meters, protection, sessions (nothing in safe mode)."""
        self._tick()

    def service(self, panel_due=True):
        """After the control tick: the front panel (when due), then the cloud's timers."""
        if panel_due and self.panel is not None:
            self.panel.step()
        self.cloud.tick()

    def ran(self, ms):
        """The loop ran ms more: True once, when the boot becomes stable (bootguard)."""
        if self.up_ms < 0:
            return False
        self.up_ms += ms
        if self.up_ms < bootguard.STABLE_MS:
            return False
        self.up_ms = -1  # stable
        bootguard.mark_stable(self.state_dir)
        return True

    def reboot_due(self):
        return self.cloud.reboot_due()

    def prepare_reset(self, clear=False):
        """Before a reset the firmware asks for: offline status, every relay off, the
        boot guard told it was planned (clear: start its count again)."""
        if self.uplink is not None:
            self.uplink.close()  # orderly: retained offline status, DISCONNECT
            self.uplink = None
        self.board.relays.all_off()
        bootguard.mark_planned(self.state_dir, clear)

    def drain(self, log):
        """No broker: records leave the outbox straight into log (as if acked), with true
        times; one made before the wall clock was known is held until it is."""
        ob = self.outbox
        wall = self.wall
        rec = ob.peek()
        while rec is not None:
            rid, kind, payload = rec
            payload = wall.restamp(payload)
            if payload is None:
                return
            log({"ev": "record", "kind": kind, "payload": json.loads(payload)})
            ob.ack(rid)
            rec = ob.peek()
