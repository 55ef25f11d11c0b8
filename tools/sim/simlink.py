# The simulator's MQTT side: the real firmware/protocol/cloud.py and firmware/link/uplink.py
# for a Sim.
#
#   link = attach(sim, "127.0.0.1", 1883, speed=None)   # run.py --broker HOST:PORT
#   ... sim.run() calls link.step() every tick (in place of Sim.deliver) ...
#   finish(sim)                                         # drain the outbox, offline status
#
# - Scenario `cmd` events always take the signed path (command()): the claims get a jti
#   ("sim-<event index>") and an exp, are signed with the cabinet's cmd_key (jws.sign, as
#   a server would) and fed to Cloud.on_command, with or without a broker; the reply is
#   logged as {"ev": "reply", ...} (and published on {root}/reply with a broker).
#   Commands from any client on the broker take the same path, their replies logged with
#   "src": "mqtt".
# - Every message the uplink publishes is logged as {"ev": "mqtt", "topic", "payload"}.
# - Clocks. The firmware runs on virtual time; the uplink's socket deadlines, keepalive
#   and backoff run on the wall clock (`time`), because a real broker answers in wall
#   time. While the uplink waits on a socket, its idle() callback advances the
#   simulation (scenario events, board.step, app.tick, cloud.tick) so protection keeps
#   running in virtual time; with --speed N it only keeps pace with N virtual s per
#   wall s. Wall-clock delays meant as virtual ones are scaled by the speed: the backlog
#   delay is 0 and the reconnect backoff 0.1-1 s when running as fast as possible.
#   SIM_LINK='{"clock": "virtual", ...}' in the environment runs the uplink on the virtual
#   clock (tools/bench/bench_mqtt.py: keepalive pings at their device rate), and any
#   other key overrides an uplink option (tests shorten timeouts with it).
# - Scenario `broker` events: "down" drops the connection at once, as a vanished network
#   would (no DISCONNECT: the broker publishes the will), and the link stays down until
#   "up", which reconnects at the next step. A power cut kills the connection the same
#   way; the firmware that boots afterwards connects afresh (birth). A `reboot` command is
#   honoured by run.py's Sim.reboot (with or without a broker) once no relay is mid-switch
#   and the reply is out: orderly close (offline status), relays drop, the firmware boots
#   again from its state directory through the assembly.
import json
import os
import time

import vsocket
from vclock import CLOCK

from firmware.link.dns import Resolver
from firmware.protocol import jws
from firmware.protocol.cloud import uplink_opts
from firmware.system import assemble

CMD_TTL_S = 600  # exp of a scenario command: its virtual time + this
BROKER_NAME = "broker.sim"  # the broker's name in the virtual DNS
DNS_SERVER = "192.168.4.1"  # the virtual network's DNS server (as run.DNS_SERVER)
DRAIN_MS = 10000  # at the end: wall time to deliver what is left in the outbox
DRAIN_DOWN_MS = 3000  # ... given up sooner when the link will not come up


def _is_ipv4(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def parse_broker(s):
    """'HOST:PORT' -> (host, port); ValueError when it is not that."""
    host, sep, port = s.rpartition(":")
    if not sep or not host:
        raise ValueError("--broker: %r is not HOST:PORT" % s)
    try:
        n = int(port)
    except ValueError:
        raise ValueError("--broker: %r is not HOST:PORT" % s)
    if not 0 < n < 65536:
        raise ValueError("--broker: port %d out of range" % n)
    return host, n


def make_cloud(sim):
    """A second Cloud on the running firmware's app and state (tests: what a reboot would
    read back), built as the assembly builds its own."""
    return assemble.make_cloud(sim.app, sim.state_dir, sim.outbox, sim.wall.set)


def cloud_of(sim):
    """The Cloud of the firmware running now (the assembly's; a new one after a boot)."""
    return sim.cabinet.cloud


def command(sim, ev):
    """A scenario `cmd` event: signed with the cabinet key, handled as if received."""
    claims = dict(ev["cmd"])
    claims.setdefault("jti", "sim-%d" % sim.next_event)
    claims.setdefault("exp", CLOCK.world_time() + CMD_TTL_S)  # the server's clock
    cloud = cloud_of(sim)
    r = cloud.on_command(jws.sign(claims, cloud.key).encode())
    out = dict(r)
    out["ev"] = "reply"
    sim.log(out)
    return r


def broker(sim, state):
    """A scenario `broker` event: "down" or "up"."""
    sim.log({"ev": "broker", "state": state})
    link = sim.link
    if link is not None:
        link.set_down(state == "down")


def attach(sim, host, port, speed=None, **opts):
    sim.link = SimLink(sim, host, port, speed, opts)
    return sim.link


def finish(sim):
    """End of the run: deliver what is left, then close the link (offline status)."""
    link = sim.link
    if link is not None:
        link.finish()


class SimLink:
    def __init__(self, sim, host, port, speed=None, opts=None):
        self.sim = sim
        self.host = host
        self.port = port
        self.speed = speed
        extra = dict(opts or {})
        env = os.getenv("SIM_LINK")
        if env:
            extra.update(json.loads(env))
        self.virtual = extra.pop("clock", "wall") == "virtual"
        # A broker given as an address is reached by the name BROKER_NAME through the
        # virtual DNS (vsocket.py), so scenario `dns` stalls delay its reconnects.
        self.broker_name = None
        if _is_ipv4(host) and extra.pop("by_name", True):
            self.broker_name = BROKER_NAME
            vsocket.WORLD.names[BROKER_NAME] = host
        self.clock = CLOCK if self.virtual else time
        self.extra = extra
        self.down = False
        self.finished = False
        self.idle_ticks = 0  # simulation ticks run by idle(), inside link waits
        self.was_up = False
        self.cabinet = None  # the firmware the uplink is connected to
        self.cloud = None
        self.uplink = None
        self.wall0 = time.ticks_ms()
        self.us0 = CLOCK.us
        self.ensure()

    def ensure(self):
        """(Re)build the cloud and the uplink when the firmware (re)booted."""
        sim = self.sim
        cab = sim.cabinet
        if self.cabinet is cab:
            return
        old = self.cabinet
        if old is not None and old.uplink is not None:
            old.uplink.abort()  # the old firmware died with its connection (power cut)
        if self.was_up:
            self.was_up = False
            sim.log({"ev": "uplink", "up": False, "error": "firmware restarted"})
        from firmware.link.uplink import Uplink  # umqtt: MicroPython only (run.py runs on both)

        self.cabinet = cab
        self.cloud = cab.cloud
        opts = self._opts()
        resolver = None
        if self.broker_name is not None:  # the broker by name, as provisioned cabinets have it
            resolver = Resolver(DNS_SERVER, CLOCK, sock_mod=vsocket).lookup
            opts["host"] = self.broker_name
        up = Uplink(opts, self.clock, cab.outbox, self._on_command, self._idle,
                    self.cloud.status_payload(), resolver=resolver)
        up.tap = self._tap
        cab.connect_uplink(up)
        self.uplink = up

    def _opts(self):
        o = uplink_opts(self.sim.cfg)
        o["host"] = self.host
        o["port"] = self.port
        if self.virtual:
            o["idle_ms"] = 0  # every socket slice advances virtual time by one tick
            # Between two steps virtual time runs ~1000x faster than the broker answers
            # on the wall clock: a PINGRESP due in 10 virtual s would often be "late".
            o["ping_timeout_ms"] = 600000
        else:
            speed = self.speed
            delay = o["backlog_delay_max_ms"]
            o["backlog_delay_max_ms"] = int(delay / speed) if speed else 0
            o["backoff_min_ms"] = max(100, int(1000 / speed)) if speed else 100
            o["backoff_max_ms"] = max(1000, int(120000 / speed)) if speed else 1000
        o.update(self.extra)
        return o

    def set_down(self, down):
        self.down = down
        up = self.uplink
        if up is None:
            return
        if down:
            up.abort()
            self._note(up)
        else:
            up.next_try = self.clock.ticks_ms()  # the network is back: try at once

    # --- the main loop's side (Sim.run) ---
    def step(self):
        self.ensure()  # the cloud's timers ran in Cabinet.service()
        if self.down:
            return
        up = self.uplink
        up.step()
        self._note(up)

    def _note(self, up):
        if up.connected != self.was_up:  # log the link going up or down
            self.was_up = up.connected
            self.sim.log({"ev": "uplink", "up": self.was_up, "error": up.last_error})

    def finish(self):
        self.finished = True
        up = self.uplink
        if up is None:
            return
        t0 = time.ticks_ms()
        up.flush_at = self.clock.ticks_ms()  # no backlog delay at the end
        while not self.down and (self.sim.outbox.count or up.lane):
            waited = time.ticks_diff(time.ticks_ms(), t0)
            if waited > DRAIN_MS or (waited > DRAIN_DOWN_MS and not up.connected):
                break
            up.step()
            time.sleep_ms(1)
        self.sim.log({"ev": "link", "stats": up.stats(), "left": self.sim.outbox.count,
                      "idle_ticks": self.idle_ticks})
        up.close()

    # --- inside the uplink ---
    def _on_command(self, payload, too_large):
        r = self.cloud.on_command(payload, too_large)
        out = dict(r)
        out["ev"] = "reply"
        out["src"] = "mqtt"
        self.sim.log(out)

    def _tap(self, topic, payload):
        self.sim.log({"ev": "mqtt", "topic": topic.decode(), "payload": bytes(payload).decode()})

    def _idle(self):
        """The control loop while the uplink waits: the simulation goes on, a tick a call."""
        sim = self.sim
        if self.finished or sim.cabinet is not self.cabinet:
            if self.virtual:
                CLOCK.advance_ms(sim.tick_ms)  # let the link's virtual deadlines pass
            return
        if self.speed:
            wall = time.ticks_diff(time.ticks_ms(), self.wall0)
            if (CLOCK.us - self.us0) / 1000 / self.speed > wall:
                return  # ahead of the requested pace
        if CLOCK.us >= sim.sc.duration_s * 1000000:
            if self.virtual:
                CLOCK.advance_ms(sim.tick_ms)
            return
        self.idle_ticks += 1
        self._tick()

    def _tick(self):
        sim = self.sim
        events = sim.sc.events
        while sim.next_event < len(events) and events[sim.next_event]["t"] * 1000000 <= CLOCK.us:
            ev = events[sim.next_event]
            if "power_cut" in ev or "broker" in ev:
                break  # they restart the firmware or the link: the main loop applies them
            sim.apply(ev)
            sim.next_event += 1
        sim.board.step(sim.tick_ms)
        cab = sim.cabinet
        cab.control()
        cab.service(False)  # the panel waits for the main loop
