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
from firmware.cloud import Cloud, load_overrides, uplink_opts
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
    _mkdir(state_dir)
    cfg, more = load_overrides(state_dir, cfg)  # what `config` commands changed since
    problems = problems + more
    board = cabinet.build(cfg, machine, time, clock)  # relays all off at construction
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


class Net:
    """The network side on the device: WiFi (or PPP), the MQTT uplink and the cloud glue.

    Everything here is stepped from the main loop after the protection has run, and
    every socket wait inside the uplink runs the control tick between 10 ms slices
    (firmware/slicesock.py), so a dead broker never delays a trip."""

    def __init__(self, app, board, cfg, state_dir, network, idle):
        from firmware import netif
        from firmware.uplink import Uplink

        self.link = None
        if cfg["net"] != "none" and network is not None:
            self.link = netif.make_link(network, cfg, time)
        rssi = self.link.rssi if self.link is not None else None
        self.cloud = Cloud(app, state_dir, app.persist.outbox, set_time=_set_rtc, rssi=rssi)
        # Socket deadlines need real time: the uplink runs on the time module.
        self.uplink = Uplink(uplink_opts(cfg, _read), time, app.persist.outbox,
                             self.cloud.on_command, idle, self.cloud.status_payload())
        self.cloud.attach(self.uplink)

    def step(self):
        self.cloud.tick()
        if self.link is not None:
            self.link.step()
            if not self.link.isconnected():
                return
        self.uplink.step()


def _set_rtc(epoch):
    t = time.gmtime(epoch - cabinet.Clock(time).offset)
    machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def run(app, board, cfg, state_dir="state", max_ticks=None, wdt=None, panel=None,
        network=None):
    """The main loop. Returns after max_ticks (tests); never on the device."""
    clock = board.clock
    panel = panel or Panel(app, board, cfg)
    wdt = wdt or machine.WDT(timeout=cfg["wdt_s"] * 1000)

    def control():  # what must run every tick, also while a socket waits
        app.tick()
        wdt.feed()

    net = Net(app, board, cfg, state_dir, network, control)
    panel.cloud = net.cloud
    net.cloud.on_auth = (  # pyright: ignore[reportAttributeAccessIssue]
        lambda rid, ok, limit, order: panel.on_auth_result(ok, limit, None, rid))
    started = clock.ticks_ms()
    stable = False
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        t0 = clock.ticks_ms()
        control()  # meters, protection, sessions: first, every tick
        panel.step()  # card reader, keypad, screen: bounded, never raises
        net.step()  # network: bounded slices, the control tick runs inside every wait
        if net.cloud.reboot_due():
            net.uplink.close()
            board.relays.all_off()
            machine.reset()
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
        import network

        run(app, board, cfg, network=network)
    except Exception as e:  # fail safe, log, let the watchdog or a reset restart us
        board.relays.all_off()
        sys.print_exception(e)
        machine.reset()


if __name__ == "__main__":
    main()
