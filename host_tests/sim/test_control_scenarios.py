"""One scenario per control rule, run on the MicroPython unix port through tools/sim/run.py.

Each test says what it expects and why. Default config (ARCHITECTURE.md config keys):
no_load 3 W / 120 s, full 30 W / 300 s + float 2700 s, unplug 2.5 W / 300 s, port limit
5.5 A / 1000 W held 5 s, feeder 8000 W, relay closings >= 1 s apart. Model meters read
one port per 100 ms (a ~1 s sweep for 10 ports), the control tick is 250 ms.
"""

import scenkit
from scenkit import start
from simrun import of, one, relay_times, run_scenario


def scenario(events, ports=2, duration_s=3600, config=None):
    return scenkit.scenario(events, ports, duration_s, config, meter="hlw8032")


def test_no_load_ends_after_no_load_s_without_charge():
    # Nothing plugged: the relay closes at ~10 s and the session must end `no_load` once
    # 120 s pass without power above 3 W, billed 0 fen.
    ev, _ = run_scenario(scenario([start(10, 0)], duration_s=400))
    on = relay_times(ev, 0, True)[0]
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "no_load"
    assert 120 <= end["t"] - on <= 122, end["t"] - on
    assert end["fen"] == 0 and end["wh"] == 0


def test_lithium_handshake_is_not_no_load_and_ends_full():
    # GB 43854 handshake: ~0 W for ~40 s is normal; the session must charge and end `full`.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lithium_handshake", "soc": 0.85}},
        start(5, 0)], duration_s=4 * 3600))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "full", end
    assert end["wh"] > 20


def test_full_lead_acid_floats_then_ends_full():
    # Lead-acid from 0.8: CC, CV, then float at 4-12 W. Full = below 30 W for 300 s with a
    # taper seen, then 2700 s of float; float draw stays above 2.5 W so it runs to the end.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.8}},
        start(5, 0)], duration_s=8 * 3600))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "full"
    float_at = one(ev, "port", port=0, state="float")["t"]
    assert 2700 - 2 <= end["t"] - float_at <= 2700 + 2, end["t"] - float_at


def test_unplug_in_constant_current_ends_unplugged_after_unplug_s():
    # Lead-acid at ~180 W unplugged at 1800 s: a straight drop to 0 W, so `unplugged`
    # once the 300 s average is below 2.5 W (and never `full`).
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0), {"t": 1800, "port": 0, "unplug": True}], duration_s=3000))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "unplugged"
    assert 1800 + 300 <= end["t"] <= 1800 + 303, end["t"]


def test_idle_charger_is_never_unplugged():
    # A charger with no battery idles at 1.5-4.5 W: not a drop from charging level.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "idle_charger"}}, start(5, 0)],
        duration_s=5 * 3600))
    end = one(ev, "session_end", port=0)
    assert end["reason"] in ("full", "no_load"), end


def test_time_limit_counts_relay_closed_time_exactly():
    # 30 minutes bought: charge_s is exactly 1800 (readings every ~1 s).
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.2}},
        start(5, 0, {"minutes": 30})], duration_s=2400))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "time_limit"
    assert 1800 <= end["charge_s"] <= 1801


def test_energy_and_money_limits():
    # 50 Wh bought on port 0; 10 fen on port 1 at 52 + 80 fen/kWh = 75.8 Wh of charge.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.2}},
        {"t": 1, "port": 1, "plug": {"model": "lithium_48v_4a", "soc": 0.2}},
        start(5, 0, {"wh": 50}), start(5, 1, {"fen": 10})], duration_s=3600))
    e0 = one(ev, "session_end", port=0)
    assert e0["reason"] == "energy_limit" and 50.0 <= e0["wh"] <= 50.3, e0
    e1 = one(ev, "session_end", port=1)
    assert e1["reason"] == "money_limit" and e1["fen"] == 10, e1
    assert 75.7 <= e1["wh"] <= 76.2, e1


def test_short_circuit_trips_overcurrent_within_one_sweep_and_locks():
    # 40 A short on a charging port: tripped on the first reading (<= one 0.2 s sweep of
    # 2 ports + one 250 ms tick), port locked: a resident cannot restart it until unlock.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 1, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        start(5, 1), {"t": 100, "port": 1, "fault": "short"},
        {"t": 110, "port": 1, "fault": "clear"},
        start(120, 1), {"t": 130, "cmd": {"op": "unlock", "port": 1}}, start(140, 1)],
        duration_s=200))
    end = of(ev, "session_end", port=1)[0]
    assert end["reason"] == "overcurrent"
    off = relay_times(ev, 1, False)[0]
    assert 100 < off <= 100.5, off
    alarms = of(ev, "alarm", code="overcurrent", port=1)
    assert [(a["state"], a["level"]) for a in alarms] == [("raised", "critical"),
                                                          ("cleared", "critical")]
    assert 130 <= alarms[1]["t"] <= 130.5  # cleared by the unlock
    replies = of(ev, "reply")
    assert [r.get("error") for r in replies] == [None, "port_locked", None, None]
    assert len(of(ev, "session_start", port=1)) == 2


def test_overload_stops_overpower_after_hold():
    # The overload ramps from ~185 W to 1050 W in 10 s at pf 0.98 and stays under 5.5 A.
    # At pf >= 0.95 it counts as resistive above 800 W (reached ~7.1 s after the fault),
    # so the 5 s hold ends 12-13.5 s after the fault (1000 W alone would be ~14.5 s).
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        start(5, 0), {"t": 60, "port": 0, "fault": "overload"}], duration_s=200))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "overpower"
    assert 60 + 12 <= end["t"] <= 60 + 13.5, end["t"]
    assert of(ev, "port", port=0, state="locked")


def test_resistive_load_above_800w_is_illegal():
    # A 900 W pf 1.0 load (4.1 A: under both current and power limits) is a heater,
    # not a charger: stopped `overpower` 5-6.5 s after it first shows on the meter.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"curve": [[0, 900.0]], "pf": 1.0}}, start(5, 0)],
        duration_s=60))
    on = relay_times(ev, 0, True)[0]
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "overpower"
    assert 5 <= end["t"] - on <= 6.5, end["t"] - on


def test_heater_1500w_trips_overcurrent_at_once():
    # 1500 W at 220 V is 6.8 A, above port_limit_a 5.5: the first reading trips it.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "heater_1500w"}}, start(5, 0)], duration_s=30))
    on = relay_times(ev, 0, True)[0]
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "overcurrent" and end["t"] - on <= 0.5


def test_welded_relay_raises_alarm_and_locks():
    # Contacts weld while charging; the remote stop opens the coil but power keeps
    # flowing: relay_welded (critical) within ~3 s, port locked.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0), {"t": 50, "port": 0, "fault": "relay_weld"},
        {"t": 60, "cmd": {"op": "stop", "port": 0}}], duration_s=80))
    assert one(ev, "session_end", port=0)["reason"] == "remote_stop"
    alarm = one(ev, "alarm", code="relay_welded", port=0)
    assert 61.5 <= alarm["t"] <= 64, alarm["t"]
    assert of(ev, "port", port=0, state="locked")


def test_silent_meter_ends_session_meter_fault_and_recovers():
    # No frame for meter_silent_s (3 s): relay off, session ends meter_fault; when
    # frames come back the alarm clears and the port is usable again.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0), {"t": 100, "port": 0, "fault": "meter_silent"},
        {"t": 200, "port": 0, "fault": "clear"}, start(210, 0)], duration_s=240))
    end = of(ev, "session_end", port=0)[0]
    assert end["reason"] == "meter_fault"
    assert 103 <= end["t"] <= 104.5, end["t"]
    alarms = of(ev, "alarm", code="meter_silent", port=0)
    assert [a["state"] for a in alarms] == ["raised", "cleared"]
    assert [r.get("error") for r in of(ev, "reply")] == [None, None]


def test_cabinet_temperature_warns_then_stops_every_session():
    # 72 C: warning alarm; 86 C: every session ends overtemp (relays off at once), new
    # starts refused until the cabinet cools below 85 - 5 C.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        {"t": 1, "port": 1, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        start(5, 0), start(5, 1), {"t": 50, "temp": {"sensor": "cabinet", "c": 72.0}},
        {"t": 100, "temp": {"sensor": "cabinet", "c": 86.0}}, start(150, 0, port_unused=1)],
        duration_s=200))
    warn = of(ev, "alarm", code="cabinet_overtemp", level="warning")[0]
    assert 50 <= warn["t"] <= 51.25
    ends = of(ev, "session_end")
    assert sorted(e["reason"] for e in ends) == ["overtemp", "overtemp"]
    assert all(100 <= e["t"] <= 101.25 for e in ends)
    assert of(ev, "alarm", code="cabinet_overtemp", level="critical", state="raised")


def test_smoke_cuts_every_relay_and_locks_every_port():
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0), start(6, 1), {"t": 60, "smoke": True}], duration_s=90))
    ends = of(ev, "session_end")
    assert sorted(e["reason"] for e in ends) == ["smoke", "smoke"]
    assert one(ev, "alarm", code="smoke")["level"] == "critical"
    assert of(ev, "port", port=0, state="locked") and of(ev, "port", port=1, state="locked")


def test_estop_ends_everything_without_locking():
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0), {"t": 30, "cmd": {"op": "estop"}}, start(40, 0)], duration_s=60))
    assert [e["reason"] for e in of(ev, "session_end")] == ["estop"]
    assert of(ev, "reply")[-1]["ok"] is True  # a port stopped by estop may start again


def test_relay_closings_are_staggered_one_second_apart():
    ev, _ = run_scenario(scenario([start(5, p) for p in range(4)], ports=4, duration_s=20))
    ons = sorted(e["t"] for e in of(ev, "relay", on=True))
    assert len(ons) == 4
    assert all(b - a >= 1.0 for a, b in zip(ons, ons[1:])), ons


def test_feeder_defers_new_sessions_and_pauses_the_newest_on_overload():
    # Budget 500 W: two lithium chargers (~185 W) run; a third start finds no room for
    # its 200 W reserve and is deferred; it starts when the first session ends. A curve
    # that jumps past the budget makes the newest running session pause.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.2}},
        {"t": 1, "port": 1, "plug": {"curve": [[0, 180.0], [600, 180.0], [601, 400.0]]}},
        {"t": 1, "port": 2, "plug": {"model": "lithium_48v_4a", "soc": 0.2}},
        start(5, 0), start(10, 1), start(20, 2), {"t": 900, "cmd": {"op": "stop", "port": 0}}],
        ports=3, duration_s=1200, config={"feeder_limit_w": 500}))
    assert of(ev, "port", port=2, state="deferred")[0]["t"] <= 21
    # port 1 draws 400 W after 600 s of relay-closed time: 185 + 400 > 500 and port 1 is
    # the newest running session: paused within a few readings.
    on = relay_times(ev, 1, True)[0]
    paused = of(ev, "port", port=1, state="deferred")
    assert paused and on + 600 <= paused[0]["t"] <= on + 606, (on, paused)
    assert of(ev, "alarm", code="feeder_overload", state="raised")
    # after port 0 stops at 900 s, the oldest waiting session (port 1) resumes first.
    on1 = [t for t in relay_times(ev, 1, True) if t > 900]
    assert on1 and on1[0] <= 903, on1


def test_bill_is_energy_times_price_floored():
    # 52 + 80 fen/kWh: a session's fen is floor(Wh * 0.132) (never more than delivered).
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.2}},
        start(5, 0, {"minutes": 120})], duration_s=7500))
    end = one(ev, "session_end", port=0)
    assert end["fen"] == int(end["wh"] * 132 / 1000) or abs(end["fen"] - end["wh"] * 0.132) < 1


def test_session_across_ticks_wrap_keeps_exact_duration():
    # The virtual ticks_ms wraps 600 s into every run: a 20-minute session started at
    # 60 s crosses it and must still charge exactly 1200 s.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.2}},
        start(60, 0, {"minutes": 20})], duration_s=1500))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "time_limit" and 1200 <= end["charge_s"] <= 1201
    on = relay_times(ev, 0, True)[0]
    assert 1200 <= end["t"] - on <= 1201.25


def test_max_duration_caps_a_session():
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.2}},
        start(5, 0)], duration_s=1000, config={"max_session_s": 600}))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "max_duration" and 600 <= end["charge_s"] <= 601


def test_offpeak_session_waits_for_the_offpeak_hour():
    # start_epoch is 00:00 UTC = 08:00 in China; off-peak hour 23 local is 15 h later.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.9}},
        start(5, 0, offpeak=True)], duration_s=15 * 3600 + 60))
    assert of(ev, "port", port=0, state="deferred")
    on = relay_times(ev, 0, True)
    assert on and 15 * 3600 <= on[0] <= 15 * 3600 + 3, on


def _relay_on_seconds(ev, port):
    total, since = 0.0, None
    for e in ev:
        if e["ev"] == "relay" and e["port"] == port:
            if e["on"]:
                since = e["t"]
            elif since is not None:
                total += e["t"] - since
                since = None
        elif e["ev"] == "power" and not e["on"] and since is not None:
            total += e["t"] - since  # the cut opens every relay
            since = None
    return total


def test_session_resumes_after_a_ten_minute_power_cut_with_the_right_charge_s():
    # 30 minutes bought; mains off from 600 s to 1200 s. The port is restored from the
    # journal, its relay re-closes after the 10 s boot hold, and the session ends
    # time_limit with charge_s 1800: relay-closed time minus what the cut took since the
    # last checkpoint (<= checkpoint_s 60 s, never billed), the outage not counted.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(2, 0, {"minutes": 30}), {"t": 600, "power_cut": {"duration_s": 600}}],
        duration_s=3000))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "time_limit" and end["charge_s"] == 1800
    assert len(of(ev, "session_start")) == 1
    ons = relay_times(ev, 0, True)
    power_on = of(ev, "power", on=True)[0]["t"]
    assert 1200 <= power_on <= 1201 and power_on + 10 <= ons[1] <= power_on + 11
    lost = _relay_on_seconds(ev, 0) - end["charge_s"]
    assert 0 <= lost <= 60, lost
    # the records reached the outbox and left it once each, in order
    recs = [e["payload"]["id"] for e in of(ev, "record")]
    assert recs == [end["sid"] + ":s", end["sid"] + ":e"]


def test_power_cut_ends_sessions_power_loss_when_resume_is_off():
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(2, 0), {"t": 300, "power_cut": {"duration_s": 60}}], duration_s=500,
        config={"resume_after_power_loss": False}))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "power_loss"
    assert len(relay_times(ev, 0, True)) == 1  # never re-closed after the cut
    # billed what the last checkpoint held: 240-290 s of ~180 W
    assert 11.0 <= end["wh"] <= 15.0, end


def test_unlock_clears_the_trip_alarms_and_a_new_trip_alarms_again():
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "heater_1500w"}}, start(5, 0),
        {"t": 30, "cmd": {"op": "unlock", "port": 0}}, start(40, 0)], duration_s=60))
    states = [a["state"] for a in of(ev, "alarm", code="overcurrent", port=0)]
    assert states == ["raised", "cleared", "raised"], states
    assert [e["reason"] for e in of(ev, "session_end")] == ["overcurrent", "overcurrent"]


def test_cabinet_ntc_unplugged_for_an_hour_is_a_sensor_fault_and_protection_recovers():
    # The NTC's lead is pulled for an hour while charging, then shorted for a minute: the
    # ADC reads its saturation (~3.1 V) or its knee, which is no temperature. sensor_fault
    # is raised within seconds (sensors are read once a second) and cleared when the
    # sensor reads again; charging goes on; afterwards 86 C still stops every session.
    ev, _ = run_scenario(scenario([
        {"t": 1, "port": 0, "plug": {"model": "lead_acid_48v_20ah", "soc": 0.3}},
        start(5, 0),
        {"t": 600, "temp": {"sensor": "cabinet", "fault": "open"}},
        {"t": 4200, "temp": {"sensor": "cabinet", "fault": None}},
        {"t": 4260, "temp": {"sensor": "cabinet", "fault": "short"}},
        {"t": 4320, "temp": {"sensor": "cabinet", "fault": None}},
        {"t": 4400, "temp": {"sensor": "cabinet", "c": 86.0}}], ports=1, duration_s=4460))
    faults = of(ev, "alarm", code="sensor_fault")
    assert [(a["state"], a.get("value")) for a in faults] == [
        ("raised", "cabinet_temp"), ("cleared", None), ("raised", "cabinet_temp"),
        ("cleared", None)], faults
    for a, t in zip(faults, (600, 4200, 4260, 4320)):
        assert t <= a["t"] <= t + 2.5, (a, t)
    # Neither rail was taken for a temperature (an open NTC once read as -26 C, a short
    # as ~125 C): no cabinet_overtemp before the real 86 C.
    assert all(a["t"] >= 4400 for a in of(ev, "alarm", code="cabinet_overtemp"))
    end = one(ev, "session_end", port=0)
    assert end["reason"] == "overtemp" and 4400 <= end["t"] <= 4402.5, end
    assert one(ev, "alarm", code="cabinet_overtemp", level="critical", state="raised")
    assert relay_times(ev, 0, False)[0] >= 4400  # charging went on through the fault
