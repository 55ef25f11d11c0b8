# The simulator's hostile network and power (tools/sim/run.py): a DNS outage and a burst
# of five power-ups within four minutes, with two sessions charging (both VMs).
import machine
from jsonlines import JsonLines
from run import Sim
from scenario import load
from vclock import CLOCK, RTC_POWER_UP, START_TICKS_MS

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

START = 1764201600


def test_power_up_burst_during_a_dns_outage():
    sc = load({"cabinet": {"ports": 2}, "duration_s": 1500, "events": [
        {"t": 1, "port": 0, "plug": {"curve": [[0, 150.0]]}},
        {"t": 1, "port": 1, "plug": {"curve": [[0, 120.0]]}},
        {"t": 2, "cmd": {"op": "start", "port": 0, "limit": {"minutes": 20}}},
        {"t": 2, "cmd": {"op": "start", "port": 1, "limit": {"minutes": 20}}},
        {"t": 60, "dns": {"stall_s": 600}},
        {"t": 100, "power_cut": {"duration_s": 5, "repeat": 5, "every_s": 48}},
        {"t": 350, "cmd": {"op": "stop", "port": 1}},  # the clock is not known yet
    ]})
    out = JsonLines()
    sim = Sim(sc, out, panel=False)
    seen = {}

    def probe():  # right after the burst: the RTC restarted, the world did not
        if "rtc" not in seen and CLOCK.us >= 400 * 1000000:
            seen["rtc"] = CLOCK.time()
            seen["world"] = CLOCK.world_time()
            seen["ticks_since"] = CLOCK.ticks_diff(CLOCK.ticks_ms(), START_TICKS_MS)
    sim.before_tick = probe
    try:
        sim.run()
    finally:
        sim.close()
    ev = out.events
    boots = [e for e in ev if e["ev"] == "boot"]
    assert len(boots) == 6 and [b["cause"] for b in boots] == ["power_on"] * 6
    assert all(b["safe_mode"] is None and b["crashes"] == 0 for b in boots), boots
    # ~50 s after the last power-up, still inside the DNS outage: no NTP yet
    assert RTC_POWER_UP < seen["rtc"] < RTC_POWER_UP + 120, seen
    assert seen["world"] == START + 400 and 0 <= seen["ticks_since"] < 120000, seen
    assert machine.reset_cause() == machine.PWRON_RESET
    recs = [e for e in ev if e["ev"] == "record"]
    for r in recs:
        p = r["payload"]
        for k in ("start", "end", "t"):
            if k in p:
                assert START <= p[k] <= START + 1500, r  # never a year-2000 time
        assert "_pu" not in p
    ends = {r["payload"]["port"]: r["payload"] for r in recs if r["kind"] == "session_end"}
    assert ends[0]["reason"] == "time_limit" and ends[0]["charge_s"] == 1200, ends
    assert ends[1]["reason"] == "remote_stop", ends
    # stamped by the RTC at 2000-01-01 + uptime, sent after NTP with the true time. Both
    # the RTC reading and the learnt delta are whole seconds (the RTC's sub-second phase
    # at the power-up is not carried): the true time to within a second.
    assert START + 349 <= ends[1]["end"] <= START + 352, ends
    stop = [e for e in ev if e["ev"] == "reply" and e.get("jti") == "sim-6"]
    assert stop and stop[0]["ok"] is True, stop
    starts = [r["payload"] for r in recs if r["kind"] == "session_start"]
    assert len(set(s["id"] for s in starts)) == 2
    assert all(START + 1 <= s["start"] <= START + 3 for s in starts), starts
