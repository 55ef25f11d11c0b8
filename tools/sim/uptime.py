# Weeks of uptime on the virtual board (issue 11: ticks past 2**29 ms).
#
#   .venv/bin/micropython tools/sim/uptime.py DAYS [IDLE_TICK_MS]
#
# The whole firmware core (App with journal and outbox, the front panel with the real
# MFRC522, keypad and display drivers, NTP and the wall clock as tools/sim/run.py boots
# them, Cloud for signed commands) runs for DAYS virtual
# days without a restart but the one a `reboot` command asks for. The ESP32's ticks wrap
# at 2**30 ms (12.4 days) and ticks_diff() means nothing past 2**29 ms (6.2 days), so the
# sessions are placed where a tick stored at boot (or at the reboot) would be 6.2-12.4
# days old:
#   day 0.003  card swipe + keypad, port 0, 20 min      (arms the card holdoff, the reader)
#   day 6.3    the same card again, port 1, 20 min      (holdoff, repeat window, boot hold)
#   day 7      a welded relay on port 5, never switched since boot (welded-relay window)
#   day 12.5   remote start, port 2, 15 min
#   day 18.7   remote start, port 3, 10 min
#   day 18.75  reboot command: honoured within seconds (relay settle gate)
#   day 25     remote start, port 4, 12 min, 6.25 days after the reboot
# Sessions past DAYS are left out. Between events the control tick runs at IDLE_TICK_MS
# (default 20 000: the meters are still read, the housekeeping still runs once per tick);
# from 30 s before an event until 2 min after it, and while any port is not idle (up to
# an hour after the last event: a stuck session must not make a broken build crawl), it
# runs at the board's 250 ms. Prints one JSON line: each expected session and what happened to it.
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
for _p in (_here + "/../../lib", _here + "/../..", _here):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import json  # noqa: E402

import scenario as scenario_mod  # noqa: E402
from run import Sim  # noqa: E402
from vclock import CLOCK  # noqa: E402

from firmware.core import codes  # noqa: E402

DAY_S = 86400
CARD = "04A1B2C3"
CARD_MINUTES = 20  # the front panel's offline limit here (the resident flow's parameter)
_LEAD_US = 30000000  # fine ticks this long before each event
_TAIL_US = 120000000  # ... and at least this long after it
_BUSY_US = 3600000000  # ... and while a port is busy, up to this long after it
_QUIET = (codes.IDLE, codes.LOCKED)
_PLUG = {"model": "lithium_48v_4a", "soc": 0.2}  # constant current for hours


def plan(days):
    """(scenario events, expected sessions [{port, t_cmd, minutes, auth}])."""
    ev = [{"t": 1, "cmd": {"op": "cards", "add": [CARD]}}]
    want = []

    def card(t, port, minutes=CARD_MINUTES):
        ev.append({"t": t - 60, "port": port, "plug": _PLUG})
        ev.append({"t": t, "swipe": {"card": CARD, "port": port}})
        ev.append({"t": t + minutes * 60 + 600, "port": port, "unplug": True})
        want.append({"port": port, "t_cmd": t, "minutes": minutes, "auth": "card:" + CARD})

    def remote(t, port, minutes):
        ev.append({"t": t - 60, "port": port, "plug": _PLUG})
        ev.append({"t": t, "cmd": {"op": "start", "port": port,
                                   "limit": {"minutes": minutes}}})
        ev.append({"t": t + minutes * 60 + 600, "port": port, "unplug": True})
        want.append({"port": port, "t_cmd": t, "minutes": minutes, "auth": "remote"})

    card(300, 0)
    card(int(6.3 * DAY_S), 1)
    weld_t = 7 * DAY_S
    ev.append({"t": weld_t - 5, "port": 5, "fault": "relay_weld"})
    ev.append({"t": weld_t, "port": 5, "plug": _PLUG})
    ev.append({"t": weld_t + 600, "port": 5, "unplug": True})
    ev.append({"t": weld_t + 601, "port": 5, "fault": "clear"})
    remote(int(12.5 * DAY_S), 2, 15)
    remote(int(18.7 * DAY_S), 3, 10)
    reboot_t = int(18.75 * DAY_S)
    ev.append({"t": reboot_t, "cmd": {"op": "reboot"}})
    remote(25 * DAY_S, 4, 12)
    end_s = int(days * DAY_S)
    keep = [e for e in ev if e["t"] < end_s]
    want = [w for w in want if w["t_cmd"] + w["minutes"] * 60 + 900 < end_s]
    keep.sort(key=lambda e: e["t"])
    return keep, want, (weld_t if weld_t + 60 < end_s else None), \
        (reboot_t if reboot_t + 60 < end_s else None), end_s


class Events:
    """The event log, kept in memory (only what this run checks)."""

    KEEP = ("session_start", "session_end", "relay", "alarm", "reboot", "reply")

    def __init__(self):
        self.got = []

    def write(self, s):
        if s.startswith("{"):
            e = json.loads(s)
            if e["ev"] in self.KEEP:
                self.got.append(e)


def busy(sim):
    app = sim.app
    for p in range(app.n):
        if app.session(p) is not None or app.port_state(p) not in _QUIET:
            return True
    return sim.panel is not None and sim.panel.flow.state != "idle"


def run(days, idle_ms=20000):
    events, want, weld_t, reboot_t, end_s = plan(days)
    sc = scenario_mod.load({"cabinet": {"ports": 10}, "duration_s": end_s,
                            "events": events})
    log = Events()
    sim = Sim(sc, log)
    sim.panel.flow.offline_limit = {"minutes": CARD_MINUTES}
    fine_ms = sim.tick_ms
    ticks = 0
    wraps = 0
    last_ticks = CLOCK.ticks_ms()
    end_us = end_s * 1000000
    evs = sc.events
    last_us = 0
    while CLOCK.us < end_us:
        while sim.next_event < len(evs) and evs[sim.next_event]["t"] * 1000000 <= CLOCK.us:
            sim.apply(evs[sim.next_event])
            sim.next_event += 1
            last_us = CLOCK.us
        next_us = evs[sim.next_event]["t"] * 1000000 if sim.next_event < len(evs) else end_us
        dt = fine_ms
        since_us = CLOCK.us - last_us
        if (since_us > _TAIL_US and next_us - CLOCK.us > _LEAD_US
                and (since_us > _BUSY_US or not busy(sim))):
            dt = min(idle_ms, (next_us - _LEAD_US - CLOCK.us) // 1000)
            dt = max(dt, fine_ms)
        sim.board.step(dt)
        panel = sim.panel
        sim.step_firmware()  # control tick, panel, cloud, NTP, delivery, reboot (run.py)
        if sim.panel is not panel:  # the `reboot` command: a new firmware, a new panel
            sim.panel.flow.offline_limit = {"minutes": CARD_MINUTES}
        now = CLOCK.ticks_ms()
        if now < last_ticks:
            wraps += 1
        last_ticks = now
        ticks += 1
    return report(log.got, want, weld_t, reboot_t, days, ticks, wraps)


def report(got, want, weld_t, reboot_t, days, ticks, wraps):
    out = {"days": days, "ticks": ticks, "wraps": wraps, "sessions": []}
    for w in want:
        p = w["port"]
        t0 = w["t_cmd"]
        t1 = t0 + w["minutes"] * 60 + 900
        st = [e for e in got if e["ev"] == "session_start" and e["port"] == p
              and t0 <= e["t"] < t1]
        en = [e for e in got if e["ev"] == "session_end" and e["port"] == p and t0 <= e["t"] < t1]
        on = [e for e in got if e["ev"] == "relay" and e["port"] == p and e["on"]
              and t0 <= e["t"] < t1]
        r = {"port": p, "day": round(t0 / DAY_S, 3), "auth_want": w["auth"],
             "charge_s_want": w["minutes"] * 60, "starts": len(st), "ends": len(en)}
        if st:
            r["auth"] = st[0]["auth"]
        if on:
            r["relay_on_after_s"] = round(on[0]["t"] - t0, 3)
        if en:
            r["reason"] = en[0]["reason"]
            r["charge_s"] = en[0]["charge_s"]
            r["wh"] = en[0]["wh"]
        out["sessions"].append(r)
    if weld_t is not None:
        al = [e for e in got if e["ev"] == "alarm" and e["code"] == codes.A_RELAY_WELDED
              and e["port"] == 5 and e["state"] == codes.RAISED and e["t"] >= weld_t]
        out["weld_after_s"] = round(al[0]["t"] - weld_t, 3) if al else None
    if reboot_t is not None:
        rb = [e for e in got if e["ev"] == "reboot" and e["t"] >= reboot_t]
        out["reboot_after_s"] = round(rb[0]["t"] - reboot_t, 3) if rb else None
    out["reboots"] = len([e for e in got if e["ev"] == "reboot"])
    return out


if __name__ == "__main__":
    d = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    print(json.dumps(run(d, idle)))
