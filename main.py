# Builds the real board from config and runs the app (ESP32; tests run it on the unix
# port with the fake machine and the virtual clock). Device layout on flash:
#   /config.json   the cabinet's config (tools/provision)      /state/   journal, outbox
import gc
import sys
import time

import machine

from drivers import cabinet
from firmware.protocol.cloud import uplink_opts
from firmware.system import assemble, bootguard
from firmware.system import config as config_mod

TICK_MS = 20  # control tick: meter polls, protection, relays
TICK_BUDGET_MS = 50  # the longest gap allowed between two control ticks, network included
MODEM_BAUD = 115200  # SIM7600 / EC20 AT port default
MODEM_RXBUF = 1024  # PPP frames arrive while the loop is busy elsewhere
# Resets that are not crashes (bootguard.py); brown-outs report PWRON_RESET on the esp32.
_NOT_CRASHES = (machine.PWRON_RESET, machine.SOFT_RESET, machine.DEEPSLEEP_RESET)


class Console:
    """Event sink on the device: records are in the outbox; print state changes only."""

    def __call__(self, ev):
        kind = ev["ev"]
        if kind in ("session_start", "session_end", "alarm"):
            print(kind, ev.get("port"), ev.get("reason") or ev.get("code") or ev.get("sid"))


def build(cfg_path="config.json", state_dir="state", clock=None, emit=None):
    """The Cabinet (firmware/system/assemble.py): relays off, ports restored, nothing
    started yet. In safe mode (cab.safe) its app is a SafeApp: no journal, no meters,
    relays off; run_safe() brings the network up around it."""
    cfg, problems = config_mod.load(cfg_path)
    cause = machine.reset_cause()

    def make_board(cfg):  # the pin map as overridden by `config` commands
        return cabinet.build(cfg, machine, time, clock)

    return assemble.build(cfg, make_board, state_dir, emit or Console(),
                          crashed=cause not in _NOT_CRASHES,
                          power_up=cause == machine.PWRON_RESET, set_rtc=_set_rtc,
                          problems=problems)


class Net:
    """The network side on the device: WiFi (or PPP), DNS, NTP, the MQTT uplink and the
    cloud glue.

    Everything here is stepped from the main loop after the protection has run, and
    nothing waits: the link connects in the background, DNS and NTP are single UDP
    exchanges (firmware/link/dns.py, netif.Ntp), and every socket wait inside the uplink runs
    the control tick between 10 ms slices (firmware/link/slicesock.py), so neither a dead
    resolver nor a dead broker delays a trip."""

    def __init__(self, cab, network, idle):
        from firmware.link import netif
        from firmware.link.dns import Resolver
        from firmware.link.uplink import Uplink

        clock = cab.clock
        self.cab = cab
        self.cfg = cfg = cab.cfg
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
            self.ntp = netif.Ntp(Resolver(dns_server, clock).lookup, clock, cab.wall.set,
                                 host=cfg["ntp_host"])
        cloud = cab.cloud
        # Socket deadlines need real time: the uplink runs on the time module.
        self.uplink = Uplink(uplink_opts(cfg, _read), time, cab.outbox, cloud.on_command,
                             idle, cloud.status_payload(), resolver=resolver)
        cab.connect_uplink(self.uplink, self.link.rssi if self.link is not None else None)

    def step(self):
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


def run(cab, max_ticks=None, wdt=None, network=None):
    """The main loop. Returns after max_ticks (tests); never on the device."""
    clock = cab.clock
    wdt = wdt or machine.WDT(timeout=cab.cfg["wdt_s"] * 1000)
    control_tick = cab.control

    def control():  # what must run every tick, also while a socket waits
        control_tick()
        wdt.feed()

    net = Net(cab, network, control)
    cab.net = net  # tests and the REPL look at the link from here
    last = clock.ticks_ms()
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        t0 = clock.ticks_ms()
        control()  # meters, protection, sessions: first, every tick
        cab.service()  # card reader, keypad, screen, cloud timers: bounded, never raises
        net.step()  # network: bounded slices, the control tick runs inside every wait
        if cab.reboot_due():
            cab.prepare_reset()  # asked for: not a crash
            machine.reset()
        if cab.ran(clock.ticks_diff(t0, last)):
            gc.collect()
        last = t0
        ticks += 1
        left = TICK_MS - clock.ticks_diff(clock.ticks_ms(), t0)
        if left > 0:
            clock.sleep_ms(left)
    return ticks


def run_safe(cab, max_ticks=None, network=None):
    """Safe mode's loop: relays off, no app; the network up for the `safe_mode` alarm and
    `status`, `unlock`, `reboot`. After SAFE_CLEAR_MS it restarts normally (not after a
    held service button). No watchdog: Ctrl-C reaches the REPL. Returns after max_ticks."""
    clock = cab.clock
    auto_clear = not cab.why.startswith("service")
    net = Net(cab, network, cab.control)
    cab.net = net
    ran_ms = 0  # an elapsed counter, not a stored tick
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        t0 = clock.ticks_ms()
        cab.service()
        net.step()
        if cab.reboot_due() or (auto_clear and ran_ms >= bootguard.SAFE_CLEAR_MS):
            cab.prepare_reset(clear=not cab.cloud.reboot_requested)
            machine.reset()
        ticks += 1
        left = TICK_MS - clock.ticks_diff(clock.ticks_ms(), t0)
        if left > 0:
            clock.sleep_ms(left)
        ran_ms += clock.ticks_diff(clock.ticks_ms(), t0)
    return ticks


def main():
    cab = build()
    for p in cab.problems:
        print("config:", p)
    try:
        import network
    except ImportError:
        network = None
    if cab.safe:
        print("SAFE MODE: relays off; network up for status/unlock/reboot; Ctrl-C: REPL")
        run_safe(cab, network=network)
        return
    try:
        run(cab, network=network)
    except Exception as e:  # fail safe, log, let the watchdog or a reset restart us
        cab.board.relays.all_off()
        sys.print_exception(e)
        machine.reset()


if __name__ == "__main__":
    main()
