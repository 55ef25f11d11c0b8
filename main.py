# Builds the real board from config and runs the app (ESP32; tests run it on the unix
# port with the fake machine and the virtual clock). Device layout on flash:
#   /config.json   the cabinet's config (tools/provision)      /state/   journal, outbox
import gc
import os
import sys
import time

import machine

from drivers import cabinet
from firmware import bootguard, codes
from firmware import config as config_mod
from firmware.app import App
from firmware.journal import Journal
from firmware.outbox import Outbox
from firmware.panel import Panel
from firmware.persist import Persist

TICK_MS = 20  # control tick: meter polls, protection, relays


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass  # already there


class Console:
    """Event sink on the device: records are in the outbox; print state changes only."""

    def __call__(self, ev):
        kind = ev["ev"]
        if kind in ("session_start", "session_end", "alarm"):
            print(kind, ev.get("port"), ev.get("reason") or ev.get("code") or ev.get("sid"))


def build(cfg_path="config.json", state_dir="state", clock=None, emit=None):
    """(app, board, cfg, problems): relays off, ports restored, nothing started yet."""
    cfg, problems = config_mod.load(cfg_path)
    board = cabinet.build(cfg, machine, time, clock)  # relays all off at construction
    _mkdir(state_dir)
    unstable = bootguard.note_boot(state_dir)
    svc = cfg["pins"]["service"]
    held = svc is not None and machine.Pin(svc, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    why = bootguard.safe_mode(unstable, held)
    outbox = Outbox(state_dir, prefix=cfg["cabinet_id"] + "-")
    if why is not None:
        outbox.put("alarm", {"code": "safe_mode", "port": None, "level": codes.CRITICAL,
                             "state": codes.RAISED, "value": why, "t": board.clock.time()})
        return None, board, cfg, problems + ["safe mode: " + why]
    journal = Journal(state_dir, cfg["ports"], board.clock, cfg["checkpoint_s"])
    app = App(board, cfg, emit or Console(), Persist(journal, outbox))
    for problem in problems:
        app.raise_alarm(codes.A_CONFIG, None, codes.WARNING, problem)
    for problem in board.problems:
        app.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, problem)
    return app, board, cfg, problems + board.problems


def run(app, board, cfg, state_dir="state", max_ticks=None, wdt=None, panel=None):
    """The main loop. Returns after max_ticks (tests); never on the device."""
    clock = board.clock
    panel = panel or Panel(app, board, cfg)
    wdt = wdt or machine.WDT(timeout=cfg["wdt_s"] * 1000)
    started = clock.ticks_ms()
    stable = False
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        t0 = clock.ticks_ms()
        app.tick()  # meters, protection, sessions: first, every tick
        panel.step()  # card reader, keypad, screen: bounded, never raises
        wdt.feed()
        if not stable and clock.ticks_diff(t0, started) >= bootguard.STABLE_MS:
            stable = True
            bootguard.mark_stable(state_dir)
            gc.collect()
        ticks += 1
        left = TICK_MS - clock.ticks_diff(clock.ticks_ms(), t0)
        if left > 0:
            clock.sleep_ms(left)
    return ticks


def main():
    app, board, cfg, problems = build()
    for p in problems:
        print("config:", p)
    if app is None:
        print("SAFE MODE: relays off, REPL available")
        return  # back to the REPL; no watchdog was started
    try:
        run(app, board, cfg)
    except Exception as e:  # fail safe, log, let the watchdog or a reset restart us
        board.relays.all_off()
        sys.print_exception(e)
        machine.reset()


if __name__ == "__main__":
    main()
