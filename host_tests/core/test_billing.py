# Integer billing: exact across many small steps, TOU slots, power tiers, journal restore.
import gc

from firmware.core.billing import Bill, Tariff

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

EPOCH_0800_CN = 1764201600  # 2025-11-27 00:00 UTC = 08:00 in China: TOU slot 16
EPOCH_2000 = 946684800  # 2000-01-01 UTC: the ESP32's epoch base


def _lcg(n, seed=12345):
    # Deterministic pseudo-random increment sizes 1..997 mWh, the same on both VMs.
    x = seed
    out = []
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(1 + x % 997)
    return out


def test_many_small_increments_bill_exactly_what_one_big_one_does():
    t = Tariff(52, 80)
    small = Bill(t)
    steps = _lcg(20000)
    for d in steps:
        small.add_energy(d)
    total = sum(steps)
    big = Bill(t)
    big.add_energy(total)
    assert small.energy_mwh == big.energy_mwh == total
    assert small.state() == big.state()
    # floors of the exact values: 52 and 80 fen per kWh, 1 kWh = 1e6 mWh
    assert small.energy_fen == total * 52 // 1000000
    assert small.service_fen == total * 80 // 1000000
    assert small.fen == total * 132 // 1000000


def test_sub_fen_steps_neither_lose_nor_invent_money():
    b = Bill(Tariff(52, 80))  # 1 mWh costs 0.000132 fen
    for _ in range(7575):
        b.add_energy(1)
    assert b.fen == 0  # 0.9999 fen: never bill more than delivered
    b.add_energy(1)
    assert b.fen == 1  # 7576 mWh = 1.000032 fen


def test_total_is_floor_of_exact_sum_not_sum_of_floors():
    b = Bill(Tariff(52, 80))
    b.add_energy(11538)  # 0.59998 fen electricity + 0.92304 fen service = 1.52302 fen
    assert b.energy_fen == 0
    assert b.service_fen == 0
    assert b.fen == 1


def test_zero_and_negative_increments_change_nothing():
    b = Bill(Tariff(52, 80, tiers=[[200, 60]]))
    b.add_energy(0)
    b.add_energy(-5)
    b.add_time(0, 100)
    b.add_time(-1000, 100)
    assert b.state() == (0, 0, 0, 0, 0, 0)


def _tou(base, slot, price):
    table = [base] * 48
    table[slot] = price
    return table


def test_tou_slot_boundary_uses_local_half_hour():
    t = Tariff(52, 0, tou_fen_per_kwh=_tou(30, 16, 100))  # 08:00-08:30 local costs 100
    assert t.slot(EPOCH_0800_CN) == 16
    assert t.slot(EPOCH_0800_CN - 1) == 15
    assert t.slot(EPOCH_0800_CN + 1799) == 16
    assert t.slot(EPOCH_0800_CN + 1800) == 17
    b = Bill(t)
    b.add_energy(1000000, EPOCH_0800_CN - 1)  # 1 kWh at 07:59:59: 30 fen
    assert b.energy_fen == 30
    b.add_energy(1000000, EPOCH_0800_CN)  # 1 kWh at 08:00:00: 100 fen
    assert b.energy_fen == 130
    b.add_energy(1000000, EPOCH_0800_CN + 1799)
    assert b.energy_fen == 230
    b.add_energy(1000000, EPOCH_0800_CN + 1800)  # 08:30: back to 30
    assert b.energy_fen == 260
    b.add_energy(1000000, EPOCH_0800_CN + 86400)  # next day's 08:00
    assert b.energy_fen == 360
    b.add_energy(1000000)  # wall clock unknown: the base price
    assert b.energy_fen == 412


def test_tou_esp32_epoch_gives_same_slot_and_offset_is_configurable():
    t = Tariff(52, 0, tou_fen_per_kwh=_tou(30, 16, 100))
    assert t.slot(EPOCH_0800_CN - EPOCH_2000) == 16
    utc = Tariff(52, 0, tou_fen_per_kwh=_tou(30, 0, 100), tz_offset_h=0)
    assert utc.slot(EPOCH_0800_CN) == 0
    b = Bill(utc)
    b.add_energy(1000000, EPOCH_0800_CN)
    assert b.energy_fen == 100


def test_power_tiers_price_time_by_present_power():
    t = Tariff(0, 0, tiers=[[200, 50], [400, 100], [600, 150], [800, 200]])
    assert t.tier_fen_per_hour(0) == 50
    assert t.tier_fen_per_hour(200) == 50  # max_w is inclusive
    assert t.tier_fen_per_hour(200.5) == 100
    assert t.tier_fen_per_hour(799) == 200
    assert t.tier_fen_per_hour(2500) == 200  # above the last tier: the last
    b = Bill(t)
    b.add_time(3600000, 180.0)  # one hour at 180 W: 50 fen
    assert b.fen == 50
    assert b.service_fen == 50 and b.energy_fen == 0
    for _ in range(3600):
        b.add_time(1000, 350.0)  # one hour in 1 s steps at 350 W: 100 fen
    assert b.fen == 150
    assert b.time_ms == 7200000
    b.add_time(17999, 700.0)  # 200 fen/h for 17.999 s = 0.99994 fen
    assert b.fen == 150
    b.add_time(1, 700.0)
    assert b.fen == 151


def test_tiers_and_energy_fees_add_up():
    b = Bill(Tariff(52, 80, tiers=[[400, 40]]))
    b.add_energy(500000, EPOCH_0800_CN)  # 26 + 40 fen
    b.add_time(1800000, 300)  # 20 fen
    assert (b.energy_fen, b.service_fen, b.fen) == (26, 60, 86)


def test_no_tiers_means_no_time_fee():
    b = Bill(Tariff(52, 80))
    b.add_time(3600000, 500)
    assert b.fen == 0 and b.time_ms == 0


def test_restore_continues_exactly():
    t = Tariff(52, 80, tou_fen_per_kwh=_tou(30, 16, 100), tiers=[[300, 45], [900, 90]])
    whole = Bill(t)
    first = Bill(t)
    steps = _lcg(2000, seed=7)
    for i, d in enumerate(steps):
        e = EPOCH_0800_CN - 900 + i
        whole.add_energy(d, e)
        whole.add_time(1000, 100 + d)
        if i < 1000:
            first.add_energy(d, e)
            first.add_time(1000, 100 + d)
    st = first.state()
    assert len(st) == 6
    for v in st:
        assert isinstance(v, int)
    second = Bill(t)
    second.restore(st)
    assert second.fen == first.fen
    for i in range(1000, 2000):
        second.add_energy(steps[i], EPOCH_0800_CN - 900 + i)
        second.add_time(1000, 100 + steps[i])
    assert second.state() == whole.state()
    assert second.fen == whole.fen


def test_restore_rejects_bad_state():
    b = Bill(Tariff())
    for bad in ((1, 2, 3), (0, 0, 0, 18000000, 0, 0), (0, 0, -1, 0, 0, 0),
                (0, 0, 0, 0, 0, 1.5)):
        try:
            b.restore(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (bad,))


def _bad_tariff(**kw):
    try:
        Tariff(**kw)
    except ValueError as e:
        return str(e)
    raise AssertionError("accepted %r" % (kw,))


def test_tariff_validation_names_the_field():
    assert "energy_fen_per_kwh" in _bad_tariff(energy_fen_per_kwh=52.5)
    assert "service_fen_per_kwh" in _bad_tariff(service_fen_per_kwh=-1)
    assert "48" in _bad_tariff(tou_fen_per_kwh=[30] * 47)
    assert "tiers[1].max_w" in _bad_tariff(tiers=[[400, 50], [200, 60]])
    assert "tz_offset_h" in _bad_tariff(tz_offset_h=20)
    t = Tariff(energy_fen_per_kwh=52.0)  # a whole number from JSON is fine
    assert t.energy_fen_per_kwh == 52


def test_tariff_from_config_dict():
    t = Tariff.from_dict({"energy_fen_per_kwh": 60, "cabinet_id": "x",
                          "tiers": [[200, 30], [400, 60]]})
    assert t.energy_fen_per_kwh == 60
    assert t.service_fen_per_kwh == 80
    assert t.tier_w == (200, 400)
    assert t.tz_offset_s == 8 * 3600


def test_steady_state_calls_allocate_nothing_on_micropython():
    if not hasattr(gc, "mem_alloc"):
        return  # CPython: nothing to measure
    t = Tariff(52, 80, tou_fen_per_kwh=_tou(30, 16, 100), tiers=[[200, 50], [400, 100]])
    b = Bill(t)
    b.add_energy(50, EPOCH_0800_CN)  # first call picks the TOU slot
    epoch = EPOCH_0800_CN + 10
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(1000):
        b.add_energy(50, epoch)
        b.add_time(1000, 180)
        _ = b.fen  # reading the bill allocates nothing either
    assert gc.mem_alloc() == before, gc.mem_alloc() - before
