# Charger models look like real e-bike chargers from the AC socket (FIELD_FACTS section 3).
from chargers import BATTERY_MODELS, MODELS, Rng, make_fault, make_load, randomised_plug

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


def _run(load, seconds, step_s=10, powered=True):
    """Advance `seconds` in steps; yield (t_s, watts, stage) after each (no big lists:
    the unix port's heap is small)."""
    t = 0
    while t < seconds:
        load.advance(step_s * 1000, powered)
        t += step_s
        yield t, load.watts(), load.stage


def _stage_times(trace):
    first = {}
    order = []
    for t, _w, st in trace:
        if st not in first:
            first[st] = t
            order.append(st)
    return order, first


def test_models_listed():
    assert len(MODELS) == 6
    for m in BATTERY_MODELS:
        assert m in MODELS
    assert "heater_1500w" not in BATTERY_MODELS


def test_lead_acid_cc_cv_float_within_6_to_8_hours_from_soc_02():
    for seed in (1, 2, 3):
        load = make_load({"model": "lead_acid_48v_20ah", "soc": 0.2}, seed)
        assert load.model == "lead_acid_48v_20ah" and not load.resistive
        assert 0.55 <= load.pf() <= 0.65
        order, first = [], {}
        green = []  # first and last time in CV at the 20-35 W green-LED point
        float_w = [100.0, 0.0]
        for t, w, st in _run(load, 10 * 3600):
            if st not in first:
                first[st] = t
                order.append(st)
            assert 0 < w < 250, (t, w)
            if st == "cc":
                assert 150 < w < 200, (t, w)
            elif st == "cv" and 20 <= w <= 35:
                green = [green[0] if green else t, t]
            elif st == "float":
                float_w = [min(float_w[0], w), max(float_w[1], w)]
        assert order == ["cc", "cv", "float"], order
        assert 6 * 3600 <= first["float"] <= 8 * 3600, first
        # the CV taper passes the green-LED point (for a while) before float
        assert green and green[1] > green[0] + 600, green
        assert 3.5 <= float_w[0] and float_w[1] <= 12.5, float_w
        assert load.soc > 0.95


def test_lead_acid_higher_soc_reaches_float_sooner():
    low = _stage_times(_run(make_load({"model": "lead_acid_48v_20ah", "soc": 0.2}, 4),
                            9 * 3600, 30))[1]["float"]
    high = _stage_times(_run(make_load({"model": "lead_acid_48v_20ah", "soc": 0.7}, 4),
                             9 * 3600, 30))[1]["float"]
    assert high < low - 3 * 3600
    near_full = make_load({"model": "lead_acid_48v_20ah", "soc": 0.99}, 4)
    assert near_full.stage == "float" and near_full.watts() < 15


def test_lithium_tapers_and_ends_at_0_to_2_w():
    for seed in (1, 5):
        load = make_load({"model": "lithium_48v_4a", "soc": 0.3}, seed)
        assert 0.55 <= load.pf() <= 0.65
        order, first = [], {}
        cc = [1000.0, 0.0]
        under_30 = []
        done = [100.0, -1.0]
        for t, w, st in _run(load, 6 * 3600):
            if st not in first:
                first[st] = t
                order.append(st)
            if st == "cc":
                cc = [min(cc[0], w), max(cc[1], w)]
            elif st == "cv" and w < 30:
                under_30 = [under_30[0] if under_30 else t, t]
            elif st == "done":
                done = [min(done[0], w), max(done[1], w)]
        assert order == ["cc", "cv", "done"], order
        assert 170 < cc[0] and cc[1] < 200, cc
        cv_min = (first["done"] - first["cv"]) / 60
        assert 20 <= cv_min <= 90, cv_min  # tens of minutes of taper
        assert under_30[1] - under_30[0] >= 600  # at least ~10 min below 30 W
        assert 0 <= done[0] and done[1] <= 2.0, done
        assert load.soc == 1.0
        assert load.pf() < 0.45  # a switch-mode charger's pf falls at light load


def test_handshake_draws_nothing_for_about_40_s_and_again_after_a_power_cut():
    load = make_load({"model": "lithium_handshake", "soc": 0.4}, 9)
    assert load.model == "lithium_handshake"
    trace = list(_run(load, 60, step_s=1))
    for t, w, _st in trace[:36]:
        assert w < 1.0, (t, w)
    for t, w, _st in trace[45:]:
        assert w > 150, (t, w)
    load.advance(5000, False)  # supply off 5 s: the charger resets
    trace = list(_run(load, 60, step_s=1))
    assert trace[20][1] < 1.0
    assert trace[-1][1] > 150
    load.advance(500, False)  # a 0.5 s dip: it keeps charging
    assert next(_run(load, 1, step_s=1))[1] > 150


def test_curve_interpolates_and_only_runs_while_powered():
    load = make_load({"curve": [[0, 0.0], [40, 3.0], [60, 182.0], [9000, 150.0]],
                      "pf": 0.6}, 3)
    assert load.model == "curve" and load.pf() == 0.6 and load.soc is None
    load.advance(100000, False)  # 100 s with the relay open: the curve does not move
    assert load.watts() == 0.0
    load.advance(20000, True)
    assert abs(load.watts() - 1.5) < 0.02
    load.advance(30000, True)  # t = 50 s: half way from 3 to 182
    assert abs(load.watts() - 92.5) < 1.0
    load.advance(3600000, False)
    assert abs(load.watts() - 92.5) < 1.0
    load.advance(10000000, True)  # past the last point: held
    assert abs(load.watts() - 150) < 1.5
    assert make_load({"curve": [[0, 10], [10, 20]]}, 1).pf() == 0.6  # default pf
    step = make_load({"curve": [[5, 7.0], [5, 70.0]]}, 1)
    assert abs(step.watts() - 7.0) < 0.1  # before the first point: its value
    step.advance(6000, True)
    assert abs(step.watts() - 70.0) < 1.0


def test_batteries_charge_only_while_powered():
    load = make_load({"model": "lithium_48v_4a", "soc": 0.3}, 2)
    load.advance(3600000, False)
    assert load.soc == 0.3 and load.powered_ms == 0
    load.advance(3600000, True)
    assert 0.5 < load.soc < 0.6  # ~185 W * 0.85 for 1 h into 624 Wh: +0.25


def test_clocking_lithium_tops_up_every_few_hours():
    load = make_load({"model": "clocking_lithium", "soc": 0.9}, 11)
    starts = []
    ends = []
    done_at = None
    prev = None
    for t, w, st in _run(load, 16 * 3600, step_s=10):
        if st == "topup" and prev != "topup":
            starts.append(t)
        if prev == "topup" and st != "topup":
            ends.append(t)
        if st == "topup":
            assert 3.0 <= w <= 21.0, w
        elif st == "done":
            assert w <= 2.0
            if done_at is None:
                done_at = t
        prev = st
    assert len(starts) >= 3, starts
    assert 2 * 3600 <= starts[0] - done_at <= 4 * 3600 + 20
    for a, b in zip(starts, ends):
        assert 2 * 60 <= b - a <= 7 * 60, (a, b)
    for a, b in zip(starts, starts[1:]):
        assert 2 * 3600 <= b - a <= 4.2 * 3600


def test_idle_charger_draws_1_to_5_w_forever():
    for seed in (1, 2, 3, 4):
        load = make_load({"model": "idle_charger"}, seed)
        assert load.soc is None
        for _t, w, _st in _run(load, 3 * 3600, 30):
            assert 1.0 <= w <= 5.0, w


def test_heater_is_resistive_1500_w():
    load = make_load({"model": "heater_1500w"}, 5)
    assert load.resistive and load.pf() == 1.0
    ws = [w for t, w, st in _run(load, 600, 1)]
    assert min(ws) >= 1500 * 0.99 and max(ws) <= 1500 * 1.01
    assert max(ws) - min(ws) > 1.0  # measurement-like noise, not a constant
    assert abs(load.amps(230.0) - 1500 / 230.0) < 0.1


def test_short_circuit_and_overload_faults():
    short = make_fault("short")
    assert short.resistive and short.pf() == 1.0
    assert 35 <= short.amps(220.0) <= 45
    over = make_fault("overload", 180.0, seed=2)
    trace = list(_run(over, 120, step_s=1))
    crossed = next(t for t, w, st in trace if w > 1000)
    assert 7 <= crossed <= 12, crossed
    assert 1280 <= trace[-1][1] <= 1320
    ws = [w for t, w, st in trace]
    for a, b in zip(ws, ws[1:]):
        assert b > a * 0.97  # rising (up to noise)
    # under the 5.5 A instant trip at 220 V until well after the 5 s overpower hold
    assert next(t for t, w, st in trace if w / (220 * over.pf()) > 5.5) > crossed + 20
    assert make_fault("heater").model == "heater_1500w"


def test_same_seed_same_run_different_seed_different_run():
    plug = {"model": "lead_acid_48v_20ah", "soc": 0.5}
    a = [w for t, w, st in _run(make_load(plug, 42), 3600, 60)]
    b = [w for t, w, st in _run(make_load(plug, 42), 3600, 60)]
    c = [w for t, w, st in _run(make_load(plug, 43), 3600, 60)]
    assert a == b
    assert a != c


def test_rng_is_the_same_on_every_vm():
    r = Rng(1)
    got = [r.next() for _ in range(3)]
    assert got == [2726006539, 2697616902, 2320997347], got
    r = Rng(0)
    for _ in range(1000):
        assert 0.0 <= r.random() < 1.0


def test_randomised_plug_is_a_battery_at_a_random_soc():
    seen = set()
    for seed in range(40):
        p = randomised_plug(seed)
        assert p == randomised_plug(seed)
        assert sorted(p.keys()) == ["model", "soc"]
        assert p["model"] in BATTERY_MODELS
        assert 0.05 <= p["soc"] <= 0.9
        seen.add(p["model"])
        make_load(p, seed)
    assert len(seen) == len(BATTERY_MODELS)
