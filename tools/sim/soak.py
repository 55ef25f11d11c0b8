"""The soak: weeks of a busy 10-port cabinet as one scenario, and the checker of its log.

    sc, plan = build(days=8, seed=1)           # scenario dict (run.py) + what must happen
    report = check(plan, events, wire)         # events: run.py's log; wire: records the
                                               # broker delivered (dicts, duplicates kept)
    report["failures"]                         # [] when every expectation held

    python tools/sim/soak.py gen --days 8 [--seed 1] [--from-day A --to-day B] OUT.json
    python tools/sim/soak.py check OUT.json.plan LOG.jsonl [WIRE.jsonl]

Every day each port runs sessions back to back, each one of a kind whose end is exact:
a time limit on a lead-acid pack far from full (time_limit, charge_s = minutes * 60), an
energy or money limit in constant current (energy_limit / money_limit, within one reading
of the limit), a lithium pack near full (full), an unplug (unplugged), a remote stop
(remote_stop), a card from the offline list with a second swipe to stop (user_stop) or
left to finish (full), and each day one fault (overload: overpower; short: overcurrent;
meter_silent: meter_fault), unlocked by staff afterwards. On top, the specials: power
cuts (single ones and a burst of five power-ups within four minutes), a broker outage of
hours, a DNS outage of hours, an NTC unplugged for an hour, and a first stretch of more
than 2**29 ms of uptime (a session at day 6.3 included).

The plan avoids what would make an expectation ambiguous: no command, swipe or unplug in
or just around a power cut (the firmware is dead then, or re-judging after its boot), no
remote command while the broker or DNS is out (the server could not reach the cabinet;
cards work offline), no new start while the NTC is open, no `full` or fault session
across a cut. Sessions limited by time, energy or money do run across cuts and outages.

Events that other branches add to the simulator are behind EVENTS below, on when the
scenario validator accepts them: until then a kind is left out (a burst is then five
single `power_cut` events) and `skipped(...)` names it, so a run says loudly what it did
not exercise.

Host tool (CPython): the firmware itself runs in tools/sim/run.py on the unix port.
"""

import json
import random
import sys

import scenario

DAY_S = 86400
PORTS = 10
CHECKPOINT_S = 60  # config default: charge time a cut may lose per session (journal)
BOOT_HOLD_S = 10  # config default: no relay closes this long after power-on
START_WITHIN_S = 15  # issue 11: every session starts within 15 s of its command
CUT_GUARD_S = 90  # no command or swipe from 60 s before a cut to this long after it
UNPLUG_GUARD_S = 420  # unplug judgement needs unplug_s (300 s) of readings on each side
NTC_OPEN_S = 3600
PANEL_GAP_S = 10  # between two residents at the panel
METER_SILENT_S = 3  # config default: a meter this long without a frame is silent
READING_S = 1.5  # one meter sweep (~1 s, FIELD_FACTS) and a tick: a reading's time

# Scenario event kinds from other branches (issue 11), on once the simulator's scenario
# validator (tools/sim/scenario.py) accepts them, i.e. once they are merged.
_PROBES = {
    "burst": {"power_cut": {"duration_s": 10, "repeat": 5, "every_s": 50}},  # net
    "dns": {"dns": {"stall_s": 60}},  # net
    "ntc": {"temp": {"sensor": "cabinet", "fault": "open"}},  # sensors
}


def _supported(ev):
    try:
        scenario.load({"events": [dict(ev, t=0)]})
        return True
    except scenario.ScenarioError:
        return False


EVENTS = {k: _supported(ev) for k, ev in _PROBES.items()}
# The firmware's judgement of a cut-open NTC is the sensors branch's; the soak expects an
# alarm raised while it is open and cleared after, and no session ended because of it.

LEAD = "lead_acid_48v_20ah"
LITHIUM = "lithium_48v_4a"


def skipped(events=None):
    """The special kinds this build leaves out (their simulator events are not merged)."""
    ev = EVENTS if events is None else events
    return [k for k in ("burst", "dns", "ntc") if not ev.get(k)]


# --- the specials -----------------------------------------------------------------------

def _specials(days, events):
    """Outages as (kind, start_s, end_s, extra). Laid out per 8-day block; the first 6.6
    days of each block have no power cut (uptime past 2**29 ms = 6.21 days)."""
    out = []
    h = 3600
    for b in range(0, days, 8):
        base = b * DAY_S
        if b + 8 > days and b > 0:
            break  # a short tail: sessions only
        out.append(("broker", base + DAY_S + 10 * h, base + DAY_S + 13 * h, None))
        if events.get("dns"):
            # DNS dead for 4 h; the link drops inside it, so reconnecting needs a lookup
            t = base + 2 * DAY_S + 9 * h
            out.append(("dns", t, t + 4 * h, None))
            out.append(("broker", t + 300, t + 1800, None))
        if events.get("ntc"):
            t = base + 3 * DAY_S + 14 * h
            out.append(("ntc", t, t + NTC_OPEN_S, None))
        out.append(("cut", base + 7 * DAY_S + 3 * h, base + 7 * DAY_S + 3 * h + 1200, None))
        # a recloser: five power-ups within four minutes (10 s off, every 50 s)
        t = base + 7 * DAY_S + 12 * h
        out.append(("burst", t, t + 4 * 50 + 10, {"n": 5, "off_s": 10, "every_s": 50}))
        out.append(("cut", base + 7 * DAY_S + 17 * h, base + 7 * DAY_S + 17 * h + 300, None))
    return [s for s in out if s[2] < days * DAY_S - 4 * h]


def _blocked(t0, t1, windows):
    for a, b in windows:
        if t0 < b and a < t1:
            return True
    return False


class _Windows:
    def __init__(self, specials):
        cuts = [(a, b) for k, a, b, _ in specials if k in ("cut", "burst")]
        self.cuts = cuts
        self.ups = [(a, b, extra["n"] if extra else 1)
                    for k, a, b, extra in specials if k in ("cut", "burst")]
        self.cut_guard = [(a - 60, b + CUT_GUARD_S) for a, b in cuts]
        self.unplug_guard = [(a - UNPLUG_GUARD_S, b + UNPLUG_GUARD_S) for a, b in cuts]
        offline = [(a - 30, b + 120) for k, a, b, _ in specials if k in ("broker", "dns")]
        ntc = [(a - 30, b + 60) for k, a, b, _ in specials if k == "ntc"]
        self.remote = self.cut_guard + offline + ntc  # the server cannot reach us
        self.swipe = self.cut_guard + ntc
        self.panel = []  # one resident at the card reader and keypad at a time

    def panel_free(self, t0, t1):
        return not _blocked(t0 - PANEL_GAP_S, t1 + PANEL_GAP_S, self.panel)

    def power_ups(self, t0, t1):
        """Power-ups in a session from t0 to t1: each may lose a checkpoint of charge."""
        return sum(n for a, b, n in self.ups if t0 <= b and a < t1)

    def stretch(self, t0, t1):
        """End of a session that runs from t0 for t1 - t0 s of charging, cuts added."""
        end = t1
        for a, b in self.cuts:
            if t0 <= b and a < end:
                end += (b - a) + BOOT_HOLD_S + CHECKPOINT_S + 30
        return end


# --- the sessions ------------------------------------------------------------------------

_KINDS = ("time", "time", "time", "energy", "money", "full", "unplug", "stop", "card_stop",
          "card_full")
_FAULTS = ("overload", "short", "meter_silent")


def _session(r, kind, k, p, t, w, cards):
    """One session from t on port p: (events, expectation, end bound) or None when the
    windows make its outcome ambiguous there."""
    ev = []
    exp = {"key": "soak-%d" % k, "port": p, "t_cmd": t, "kind": kind, "cuts": 0}
    remote = kind not in ("card_stop", "card_full")
    if _blocked(t - 5, t + 30, w.remote if remote else w.swipe):
        return None
    if not remote and not w.panel_free(t - 10, t + START_WITHIN_S):
        return None
    lead_soc = round(r.uniform(0.15, 0.4), 2)
    if kind == "time":
        m = r.choice((30, 45, 60, 90, 120, 150))
        plug, limit = {"model": LEAD, "soc": lead_soc}, {"minutes": m}
        end = w.stretch(t, t + m * 60 + 60)
        exp.update(reason="time_limit", charge_s=m * 60)
    elif kind == "energy":
        wh = r.choice((40, 60, 100, 150))
        plug, limit = {"model": LITHIUM, "soc": round(r.uniform(0.15, 0.4), 2)}, {"wh": wh}
        end = w.stretch(t, t + wh * 3600 // 160 + 120)
        exp.update(reason="energy_limit", wh=wh)
    elif kind == "money":
        fen = r.choice((5, 10, 15, 20))
        plug, limit = {"model": LEAD, "soc": lead_soc}, {"fen": fen}
        end = w.stretch(t, t + int(fen / 0.132 * 3600 / 160) + 120)
        exp.update(reason="money_limit", fen=fen)
    elif kind in ("full", "card_full"):
        plug = {"model": LITHIUM, "soc": round(r.uniform(0.86, 0.92), 2)}
        limit = {"full": True}
        end = t + 2 * 3600
        if _blocked(t - 60, end + 60, w.cut_guard):
            return None
        exp.update(reason="full")
    elif kind == "unplug":
        u = t + r.randrange(1200, 5400)
        plug, limit = {"model": LEAD, "soc": lead_soc}, {"minutes": 600}
        if _blocked(u, u + 1, w.unplug_guard) or _blocked(t, u + 400, w.cut_guard):
            return None  # the relay time to the unplug must be one unbroken stretch
        ev.append({"t": u, "port": p, "unplug": True})
        end = u + 600
        exp.update(reason="unplugged", unplug_t=u)
    elif kind in ("stop", "card_stop"):
        s = t + r.randrange(1200, 5400)
        plug, limit = {"model": LEAD, "soc": lead_soc}, {"minutes": 600}
        if _blocked(s - 5, s + 30, w.remote if kind == "stop" else w.swipe):
            return None
        if kind == "card_stop" and not w.panel_free(s, s + 5):
            return None
        end = s + 60
        exp.update(reason="remote_stop" if kind == "stop" else "user_stop", stop_t=s)
    else:  # a fault while charging; staff clear it and unlock the port
        s = t + r.randrange(600, 1800)
        plug, limit = {"model": LEAD, "soc": lead_soc}, {"minutes": 600}
        end = s + 600
        if _blocked(t - 60, end + 60, w.cut_guard) or _blocked(s + 400, s + 460, w.remote):
            return None
        ev.append({"t": s, "port": p, "fault": kind})
        ev.append({"t": s + 300, "port": p, "fault": "clear"})
        if kind != "meter_silent":
            ev.append({"t": s + 420, "cmd": {"op": "unlock", "port": p}})
        reason = {"overload": "overpower", "short": "overcurrent"}.get(kind, "meter_fault")
        exp.update(reason=reason, fault_t=s)
    ev.insert(0, {"t": t - 30, "port": p, "plug": plug})
    if remote:
        ev.append({"t": t, "cmd": {"op": "start", "port": p, "limit": limit,
                                   "order": exp["key"]}})
    else:
        # The card, then the port's number and # # on the keypad, 1.5 s a key (a 250 ms
        # simulator tick sees every press and release); the command is the last #.
        card = cards[p + PORTS * (k % 2)]  # a card charges on one port at a time
        exp["card"] = card
        keys = "%d##" % (p + 1)
        t_swipe = t - 1.5 * len(keys)
        ev.append({"t": t_swipe, "swipe": {"card": card}})
        for i, key in enumerate(keys):
            ev.append({"t": t_swipe + 1.5 * (i + 1), "keys": key})
        w.panel.append((t_swipe, t + START_WITHIN_S))
        if kind == "card_stop":
            ev.append({"t": exp["stop_t"], "swipe": {"card": card}})
            w.panel.append((exp["stop_t"], exp["stop_t"] + 5))
    if kind == "stop":
        ev.append({"t": exp["stop_t"], "cmd": {"op": "stop", "port": p}})
    exp["limit"] = limit
    exp["end_by"] = end
    return ev, exp, end


def build(days=8, seed=1, events=None, from_day=0, to_day=None):
    """(scenario dict, plan). The plan lists every session with what must happen."""
    events = dict(EVENTS if events is None else events)
    r = random.Random(seed)
    specials = _specials(days, events)
    w = _Windows(specials)
    cards = ["5A%06X" % (0x100000 + i * 7919) for i in range(2 * PORTS)]
    duration = days * DAY_S
    last_start = duration - 4 * 3600
    ev = [{"t": 5, "cmd": {"op": "cards", "add": cards}}]
    plan = []
    k = 0
    fault_day = {}
    for p in range(PORTS):
        t = 120 + p * 37 + r.randrange(0, 1800)
        while t < last_start:
            day = int(t // DAY_S)
            kind = r.choice(_KINDS)
            if fault_day.get(day) is None and p == (day * 3 + 1) % PORTS:
                kind = _FAULTS[day % len(_FAULTS)]
            made = _session(r, kind, k, p, t, w, cards)
            if made is None:
                t += 600  # try again a little later
                continue
            sev, exp, end = made
            if kind in _FAULTS:
                fault_day[day] = True
            k += 1
            exp["cuts"] = w.power_ups(t, end)
            ev.extend(sev)
            plan.append(exp)
            u = end + 120  # the resident takes the bike (a no-op if it was unplugged)
            while _blocked(u, u + 1, w.unplug_guard):
                u += 300
            if exp["reason"] != "unplugged":
                ev.append({"t": u, "port": p, "unplug": True})
            t = u + 60 + r.randrange(1200, 9000)
    for kind, a, b, extra in specials:
        ev.extend(_special_events(kind, a, b, extra, events))
    lo, hi = from_day * DAY_S, (days if to_day is None else to_day) * DAY_S
    if from_day or to_day is not None:
        ev, plan = _range(ev, plan, lo, hi, cards)
    ev.sort(key=lambda e: e["t"])
    sc = {"cabinet": {"ports": PORTS, "meter": "hlw8032",
                      "config": {"checkpoint_s": CHECKPOINT_S, "boot_hold_s": BOOT_HOLD_S}},
          "duration_s": hi - lo, "events": ev}
    meta = {"days": (hi - lo) // DAY_S, "seed": seed, "from_day": from_day,
            "specials": [[k, a - lo, b - lo] for k, a, b, _ in specials if lo <= a < hi],
            "skipped": skipped(events), "events": events}
    return sc, {"meta": meta, "sessions": plan}


def _special_events(kind, a, b, extra, events):
    if kind == "broker":
        return [{"t": a, "broker": "down"}, {"t": b, "broker": "up"}]
    if kind == "dns":
        return [{"t": a, "dns": {"stall_s": b - a}}]
    if kind == "ntc":
        return [{"t": a, "temp": {"sensor": "cabinet", "fault": "open"}},
                {"t": b, "temp": {"sensor": "cabinet", "fault": None}}]
    if kind == "cut":
        return [{"t": a, "power_cut": {"duration_s": b - a}}]
    n, off, every = extra["n"], extra["off_s"], extra["every_s"]
    if events.get("burst"):
        return [{"t": a, "power_cut": {"duration_s": off, "repeat": n, "every_s": every}}]
    return [{"t": a + i * every, "power_cut": {"duration_s": off}} for i in range(n)]


def _range(ev, plan, lo, hi, cards):
    """Only the sessions commanded in [lo, hi), shifted so that lo is t = 0."""
    keep = [x for x in plan if lo <= x["t_cmd"] and x["end_by"] + 600 < hi]
    ports_t = [(x["port"], x["t_cmd"] - 30, x["end_by"] + 600) for x in keep]
    out = [{"t": 5, "cmd": {"op": "cards", "add": cards}}]
    for e in ev[1:]:
        t = e["t"]
        if not lo <= t < hi:
            continue
        if "port" in e or "swipe" in e or ("cmd" in e and "port" in e["cmd"]):
            port = e.get("port", e.get("swipe", e.get("cmd", {})).get("port"))
            if port is None:  # a stop swipe: kept with its session below
                port = [x["port"] for x in keep if x.get("card") == e["swipe"]["card"]
                        and x["t_cmd"] - 30 <= t <= x["end_by"]]
                port = port[0] if port else -1
            if not [1 for q, a, b in ports_t if q == port and a <= t <= b]:
                continue
        e = dict(e)
        e["t"] = t - lo
        out.append(e)
    for x in keep:
        for key in ("t_cmd", "end_by", "unplug_t", "stop_t", "fault_t"):
            if key in x:
                x[key] -= lo
    return out, keep


# --- the checker -------------------------------------------------------------------------

def _intervals(events, port, t0, t1):
    """Relay-closed seconds of a port within [t0, t1] and the first closing time. A power
    cut opens every relay without a relay event (the controller died)."""
    total = 0.0
    first = None
    on_at = None
    for e in events:
        t = e["t"]
        if t < t0:
            continue
        if t > t1:
            break
        if e["ev"] == "relay" and e["port"] == port:
            if e["on"] and on_at is None:
                on_at = t
                first = t if first is None else first
            elif not e["on"] and on_at is not None:
                total += t - on_at
                on_at = None
        elif e["ev"] == "power" and not e["on"] and on_at is not None:
            total += t - on_at
            on_at = None
    if on_at is not None:
        total += t1 - on_at
    return total, first


def check(plan, events, wire=None):
    """Judge a soak run. Returns a report: figures, and failures naming the session."""
    fails = []
    starts = {}  # sid -> session_start event
    ends = {}
    by_order = {}
    by_card = {}
    for e in events:
        k = e["ev"]
        if k == "session_start":
            if e["sid"] in starts:
                fails.append("session %s started twice in the log" % e["sid"])
            starts[e["sid"]] = e
            if e.get("order"):
                by_order.setdefault(e["order"], []).append(e)
            elif e.get("auth", "").startswith("card:"):
                by_card.setdefault(e["auth"][5:], []).append(e)
        elif k == "session_end":
            if e["sid"] in ends:
                fails.append("session %s ended twice in the log" % e["sid"])
            ends[e["sid"]] = e
    matched = set()
    worst = 0.0
    worst_key = None
    for x in plan["sessions"]:
        name = "session %s (%s, port %d, commanded at t=%s, day %.2f)" % (
            x["key"], x["kind"], x["port"], x["t_cmd"], x["t_cmd"] / DAY_S)
        if "card" in x:
            cands = [s for s in by_card.get(x["card"], ())
                     if x["t_cmd"] <= s["t"] <= x["t_cmd"] + START_WITHIN_S]
        else:
            cands = by_order.get(x["key"], [])
        if len(cands) != 1:
            fails.append("%s: %d session_start for it, want 1" % (name, len(cands)))
            continue
        s = cands[0]
        matched.add(s["sid"])
        if s["port"] != x["port"]:
            fails.append("%s: started on port %d" % (name, s["port"]))
        end = ends.get(s["sid"])
        t1 = end["t"] if end is not None else events[-1]["t"]
        relay_s, first = _intervals(events, x["port"], s["t"], t1)
        delay = None if first is None else first - x["t_cmd"]
        if delay is None or delay > START_WITHIN_S:
            fails.append("%s: relay closed %s after the command, want <= %d s"
                         % (name, "never" if delay is None else "%.1f s" % delay,
                            START_WITHIN_S))
        elif delay > worst:
            worst, worst_key = delay, x["key"]
        if end is None:
            fails.append("%s: no session_end (sid %s), want %s" % (name, s["sid"], x["reason"]))
            continue
        got = end["reason"]
        if got != x["reason"]:
            fails.append("%s: ended %s after %s s of charge with %s Wh, want %s"
                         % (name, got, end["charge_s"], end["wh"], x["reason"]))
            continue
        fails.extend(_exact(name, x, end, relay_s))
    for sid, e in ends.items():
        if sid not in starts:
            fails.append("session %s on port %d ended (%s) but never started in the log"
                         % (sid, e["port"], e["reason"]))
    for sid, s in starts.items():
        if sid not in matched:
            fails.append("session %s on port %d at t=%s was not commanded by the soak"
                         % (sid, s["port"], s["t"]))
    rep = {"sessions": len(plan["sessions"]), "started": len(matched),
           "ended": sum(1 for sid in matched if sid in ends),
           "worst_start_s": round(worst, 1), "worst_start_session": worst_key}
    rep.update(_records(events, wire, fails))
    rep.update(_specials_seen(plan, events, fails))
    rep["failures"] = fails
    return rep


def _exact(name, x, end, relay_s):
    out = []
    cs = end["charge_s"]
    if x["reason"] == "time_limit":
        # the limit ends the session at the first reading past it and charges exactly
        # the time bought (port.Session.limit_reached)
        if cs != x["charge_s"]:
            out.append("%s: charge_s %s, want exactly %d" % (name, cs, x["charge_s"]))
    # charge_s is relay-closed time, counted per meter reading and floored to the second;
    # a cut loses what the journal had not saved (<= one checkpoint and one reading)
    lo = relay_s - READING_S - 1 - x["cuts"] * (CHECKPOINT_S + READING_S)
    if x["kind"] == "meter_silent":
        lo -= METER_SILENT_S  # no reading while the meter is silent
    if not lo <= cs <= relay_s + 1:
        out.append("%s: charge_s %s but the relay was closed %.1f s (%d cuts)"
                   % (name, cs, relay_s, x["cuts"]))
    if "wh" in x and not x["wh"] <= end["wh"] <= x["wh"] + 0.5:
        out.append("%s: %s Wh for a %d Wh limit" % (name, end["wh"], x["wh"]))
    if "fen" in x and not x["fen"] <= end["fen"] <= x["fen"] + 1:
        out.append("%s: %s fen for a %d fen limit" % (name, end["fen"], x["fen"]))
    return out


def _records(events, wire, fails):
    """Every record in the log reached the broker, once after de-duplication by id."""
    want = {}
    for e in events:
        if e["ev"] in ("session_start", "session_end", "alarm"):
            want[e["id"]] = e["ev"]
    out = {"records": len(want), "alarms": sum(1 for k in want.values() if k == "alarm")}
    if wire is None:
        return out
    seen = {}
    for rec in wire:
        rid = rec.get("id")
        if rid in seen and seen[rid] != rec:
            fails.append("record %s reached the broker twice with different contents" % rid)
        seen.setdefault(rid, rec)
    counts = {}
    for rec in wire:
        counts[rec.get("id")] = counts.get(rec.get("id"), 0) + 1
    lost = sorted(set(want) - set(seen))
    extra = sorted(set(seen) - set(want))
    for rid in lost[:20]:
        fails.append("record %s (%s) never reached the broker" % (rid, want[rid]))
    if len(lost) > 20:
        fails.append("... and %d more records lost" % (len(lost) - 20))
    for rid in extra[:20]:
        fails.append("record %s reached the broker but is not in the log" % rid)
    out["wire_messages"] = len(wire)
    out["duplicates"] = sum(n - 1 for n in counts.values())
    out["lost"] = len(lost)
    return out


def _specials_seen(plan, events, fails):
    boots = sum(1 for e in events if e["ev"] == "power" and e["on"])
    wraps = sum(1 for e in events if e["ev"] == "ticks_wrap")
    out = {"boots": boots, "ticks_wraps": wraps,
           "days": plan["meta"]["days"], "skipped": plan["meta"]["skipped"]}
    for e in events:
        why = None  # run.py logs the boot guard's verdict at each boot
        if e["ev"] == "boot" and e.get("safe_mode"):
            why = e["safe_mode"]
        elif e["ev"] == "safe_mode" or (e["ev"] == "alarm" and e.get("code") == "safe_mode"):
            why = e.get("why") or e.get("value") or "safe_mode"
        if why is not None:
            fails.append("safe mode at t=%s (%s) after power cuts alone" % (e["t"], why))
    cuts = [s for s in plan["meta"]["specials"] if s[0] in ("cut", "burst")]
    want_boots = sum(5 if s[0] == "burst" else 1 for s in cuts)
    if boots != want_boots:
        fails.append("%d power-ups in the log, the plan has %d" % (boots, want_boots))
    ntc = [s for s in plan["meta"]["specials"] if s[0] == "ntc"]
    for _, a, b in ntc:
        raised = [e for e in events if e["ev"] == "alarm" and e["port"] is None
                  and e["state"] == "raised" and a <= e["t"] <= a + 60]
        cleared = [e for e in events if e["ev"] == "alarm" and e["port"] is None
                   and e["state"] == "cleared" and b <= e["t"] <= b + 120
                   and e["code"] in [r["code"] for r in raised]]
        if not raised or not cleared:
            fails.append("NTC open t=%s-%s: alarm raised %s, cleared %s"
                         % (a, b, [r["code"] for r in raised], [c["code"] for c in cleared]))
    days = {}
    for e in events:
        if e["ev"] == "session_start":
            days[int(e["t"] // DAY_S)] = days.get(int(e["t"] // DAY_S), 0) + 1
    for d in range(plan["meta"]["days"]):
        if days.get(d, 0) < PORTS:
            fails.append("day %d: %d sessions started, want >= %d" % (d, days.get(d, 0), PORTS))
    return out


def read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def main(argv):
    if len(argv) >= 2 and argv[0] == "gen":
        args = argv[1:]
        opts = {"--days": "8", "--seed": "1", "--from-day": "0", "--to-day": None}
        rest = []
        i = 0
        while i < len(args):
            if args[i] in opts:
                opts[args[i]] = args[i + 1]
                i += 2
            else:
                rest.append(args[i])
                i += 1
        to_day = None if opts["--to-day"] is None else int(opts["--to-day"])
        sc, plan = build(int(opts["--days"]), int(opts["--seed"]),
                         from_day=int(opts["--from-day"]), to_day=to_day)
        out = rest[0] if rest else "soak.json"
        with open(out, "w") as f:
            json.dump(sc, f)
        with open(out + ".plan", "w") as f:
            json.dump(plan, f)
        sys.stderr.write("soak: %d sessions, %d events -> %s (+ .plan); not exercised: %s\n"
                         % (len(plan["sessions"]), len(sc["events"]), out,
                            ", ".join(plan["meta"]["skipped"]) or "none"))
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        with open(argv[1]) as f:
            plan = json.load(f)
        wire = read_jsonl(argv[3]) if len(argv) > 3 else None
        rep = check(plan, read_jsonl(argv[2]), wire)
        for line in rep["failures"]:
            print("FAIL", line)
        rep["failures"] = len(rep["failures"])
        print(json.dumps(rep))
        return 1 if rep["failures"] else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
