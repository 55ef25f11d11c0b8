# Builds the real board from config and runs the app (ESP32; tests run it on the unix
# port with the fake machine and the virtual clock). Device layout on flash:
#   /config.json   the cabinet's config (tools/provision)      /state/   journal, outbox
import gc
import os
import sys
import time

import machine

from drivers import cabinet
from firmware.core import codes
from firmware.core.app import App
from firmware.panel.panel import Panel
from firmware.protocol.cloud import Cloud, load_overrides, uplink_opts
from firmware.store.journal import Journal
from firmware.store.outbox import Outbox
from firmware.store.persist import Persist
from firmware.system import bootguard
from firmware.system import config as config_mod
from firmware.system.wallclock import WallClock

TICK_MS = 20  # control tick: meter polls, protection, relays
TICK_BUDGET_MS = 50  # the longest gap allowed between two control ticks, network included
MODEM_BAUD = 115200  # SIM7600 / EC20 AT port default
MODEM_RXBUF = 1024  # PPP frames arrive while the loop is busy elsewhere
# Resets that are not crashes (bootguard.py); brown-outs report PWRON_RESET on the esp32.
_NOT_CRASHES = (machine.PWRON_RESET, machine.SOFT_RESET, machine.DEEPSLEEP_RESET)


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
    """(app, board, cfg, problems): relays off, ports restored, nothing started yet.
    In safe mode app is a firmware.system.safemode.SafeApp (app.safe is True): no journal, no
    meters, relays off; run_safe() brings the network up around it."""
    cfg, problems = config_mod.load(cfg_path)
    _mkdir(state_dir)
    cfg, more = load_overrides(state_dir, cfg)  # what `config` commands changed since
    problems = problems + more
    board = cabinet.build(cfg, machine, time, clock)  # relays all off at construction
    cause = machine.reset_cause()
    crashes = bootguard.note_boot(state_dir, cause not in _NOT_CRASHES)
    svc = cfg["pins"]["service"]
    held = svc is not None and machine.Pin(svc, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    why = bootguard.safe_mode(crashes, held)
    outbox = Outbox(state_dir, prefix=cfg["cabinet_id"] + "-")
    wall = WallClock(board.clock, state_dir, _set_rtc, cause == machine.PWRON_RESET)
    if why is not None:
        from firmware.system.safemode import SafeApp

        app = SafeApp(board, cfg, outbox, crashes, lambda: bootguard.mark_stable(state_dir),
                      why, wall)
        app.raise_alarm(codes.A_SAFE_MODE, None, codes.CRITICAL, why)
        return app, board, cfg, problems + ["safe mode: " + why]
    journal = Journal(state_dir, cfg["ports"], board.clock, cfg["checkpoint_s"])
    # Records made before the wall clock is known are tagged (wallclock.py).
    app = App(board, cfg, emit or Console(), Persist(journal, outbox, wall.tag), wall)
    for problem in problems:
        app.raise_alarm(codes.A_CONFIG, None, codes.WARNING, problem)
    for problem in board.problems:
        app.raise_alarm(codes.A_SENSOR_FAULT, None, codes.WARNING, problem)
    return app, board, cfg, problems + board.problems


class Net:
    """The network side on the device: WiFi (or PPP), DNS, NTP, the MQTT uplink and the
    cloud glue.

    Everything here is stepped from the main loop after the protection has run, and
    nothing waits: the link connects in the background, DNS and NTP are single UDP
    exchanges (firmware/link/dns.py, netif.Ntp), and every socket wait inside the uplink runs
    the control tick between 10 ms slices (firmware/link/slicesock.py), so neither a dead
    resolver nor a dead broker delays a trip."""

    def __init__(self, app, board, cfg, state_dir, network, idle, outbox, wall, cloud_cls=Cloud):
        from firmware.link import netif
        from firmware.link.dns import Resolver
        from firmware.link.uplink import Uplink

        clock = board.clock
        self.cfg = cfg
        self.link = None
        self.ntp = None
        self.problem = None
        if cfg["net"] != "none" and network is not None:
            try:
                uart = modem_uart(cfg) if cfg["net"] == "ppp" else None
                self.link = netif.make_link(network, cfg, clock, uart)
            except ValueError as e:  # no modem pins: offline, and said so
                self.problem = str(e)
        # Broker and NTP names go through the non-blocking resolver, never getaddrinfo.
        # One resolver each: a Resolver keeps one query in flight.
        dns_server = self.link.dns if self.link is not None else (lambda: None)
        resolver = Resolver(dns_server, clock).lookup
        if self.link is not None and cfg["ntp_host"]:
            self.ntp = netif.Ntp(Resolver(dns_server, clock).lookup, clock, wall.set,
                                 host=cfg["ntp_host"])
        rssi = self.link.rssi if self.link is not None else None
        self.cloud = cloud_cls(app, state_dir, outbox, set_time=wall.set, rssi=rssi)
        # Socket deadlines need real time: the uplink runs on the time module.
        self.uplink = Uplink(uplink_opts(cfg, _read), time, outbox, self.cloud.on_command,
                             idle, self.cloud.status_payload(), resolver=resolver)
        self.uplink.restamp = wall.restamp  # true times on the wire, held while unknown
        self.cloud.attach(self.uplink)

    def step(self):
        self.cloud.tick()
        if self.cfg["net"] == "none":
            return
        if self.link is not None:
            self.link.step()
            if not self.link.isconnected():
                return
            if self.ntp is not None:
                self.ntp.step()
        self.uplink.step()


def modem_uart(cfg):
    """The cellular modem's UART (PPP), on the pin map's explicit tx/rx pins."""
    pins = cfg["pins"]
    if pins["modem_tx"] is None or pins["modem_rx"] is None:
        raise ValueError("net ppp: pins.modem_tx and pins.modem_rx are not set")
    return machine.UART(pins["modem_uart"], baudrate=MODEM_BAUD, bits=8, parity=None, stop=1,
                        tx=pins["modem_tx"], rx=pins["modem_rx"], rxbuf=MODEM_RXBUF,
                        timeout=0)


def _set_rtc(unix_s, ms=0):
    """The RTC from Unix seconds (NTP, the `time` command), on either port epoch."""
    cabinet.set_rtc(machine, time, unix_s, ms)


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

    net = Net(app, board, cfg, state_dir, network, control, app.persist.outbox, app.wall)
    app.net = net  # tests and the REPL look at the link from here
    panel.cloud = net.cloud
    net.cloud.on_auth = (  # pyright: ignore[reportAttributeAccessIssue]
        lambda rid, ok, limit, order: panel.on_auth_result(ok, limit, None, rid, order))
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
            bootguard.mark_planned(state_dir)  # asked for: not a crash
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


def run_safe(app, board, cfg, state_dir="state", max_ticks=None, network=None):
    """Safe mode's loop: relays off, no app; the network up for the `safe_mode` alarm and
    `status`, `unlock`, `reboot`. After SAFE_CLEAR_MS it restarts normally (not after a
    held service button). No watchdog: Ctrl-C reaches the REPL. Returns after max_ticks."""
    from firmware.system.safemode import SafeCloud

    clock = board.clock
    auto_clear = not app.why.startswith("service")
    net = Net(app, board, cfg, state_dir, network, _no_tick, app.outbox, app.wall, SafeCloud)
    app.net = net
    ran_ms = 0  # an elapsed counter, not a stored tick
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        t0 = clock.ticks_ms()
        net.step()
        if net.cloud.reboot_due() or (auto_clear and ran_ms >= bootguard.SAFE_CLEAR_MS):
            net.uplink.close()
            board.relays.all_off()
            bootguard.mark_planned(state_dir, clear=not net.cloud.reboot_requested)
            machine.reset()
        ticks += 1
        left = TICK_MS - clock.ticks_diff(clock.ticks_ms(), t0)
        if left > 0:
            clock.sleep_ms(left)
        ran_ms += clock.ticks_diff(clock.ticks_ms(), t0)
    return ticks


def _no_tick():
    pass  # safe mode: nothing to control, every relay stays off


def main():
    app, board, cfg, problems = build()
    for p in problems:
        print("config:", p)
    try:
        import network
    except ImportError:
        network = None
    if getattr(app, "safe", False):
        print("SAFE MODE: relays off; network up for status/unlock/reboot; Ctrl-C: REPL")
        run_safe(app, board, cfg, network=network)
        return
    try:
        run(app, board, cfg, network=network)
    except Exception as e:  # fail safe, log, let the watchdog or a reset restart us
        board.relays.all_off()
        sys.print_exception(e)
        machine.reset()


if __name__ == "__main__":
    main()
