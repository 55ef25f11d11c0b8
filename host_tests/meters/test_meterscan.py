# MeterScanner end to end: fake UARTs at 4800 8E1, 74HC4067 models, HLW8032 emulators.
import gc
import sys

import machine
from hlw8032_emu import ReplayUart, make_frame
from hlw_sim import SELECT, cabinet, run
from vclock import CLOCK

from drivers.meterscan import MeterScanner

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)


def _sweeps(sc, ms, tick_ms=10):
    """Poll for `ms`; (shortest, longest, mean) sweep in ms over the sweeps completed."""
    lo = 1 << 30
    hi = 0
    n0 = sc.sweeps
    t_first = None
    for _ in range(ms // tick_ms):
        n = sc.sweeps
        CLOCK.advance_ms(tick_ms)
        sc.poll()
        if sc.sweeps != n:
            if t_first is None:
                t_first = CLOCK.us
                n0 = sc.sweeps
            else:
                lo = min(lo, sc.sweep_ms)
                hi = max(hi, sc.sweep_ms)
    mean = (CLOCK.us - t_first) // 1000 // max(1, sc.sweeps - n0)
    return lo, hi, mean


def test_ten_ports_on_one_uart_all_read_correctly():
    sc = cabinet(ports=10, uarts=1, volts=230.0, amps=4.0, pf=0.95)[0]
    run(sc, 5000)
    for p in range(10):
        assert sc.frames[p] >= 4, (p, sc.frames)
        assert abs(sc.mv[p] - 230000) < 230 and abs(sc.ma[p] - 4000) < 4
        assert abs(sc.mw[p] - 874000) < 874
        assert sc.checksum_errors[p] == 0 and sc.misses[p] == 0 and sc.jumps[p] == 0
        assert not sc.silent(p) and sc.age_ms(p) < 1200
        assert sc.pulses[p] > 0 and sc.energy_mwh[p] > 0


def test_sweep_time_of_ten_ports_on_one_uart():
    # A visit costs the rest of the frame on the wire plus one frame (55..110 ms) plus
    # up to one tick: 10 visits are 0.55..1.2 s, about 0.9 s on average.
    means = []
    for seed in range(4):
        sc, _, _, _ = cabinet(ports=10, uarts=1, seed=seed)
        lo, hi, mean = _sweeps(sc, 12000)
        assert 550 <= lo and hi <= 1200, (seed, lo, hi)
        means.append(mean)
    avg = sum(means) // len(means)
    print("sweep_ms_10_ports_1_uart", avg, means)
    assert 700 <= avg <= 1050, means


def test_sweep_time_of_ten_ports_on_two_uarts():
    # 5 lock-step visits, each the slower of two meters: 0.28..0.6 s, about half of one UART
    means = []
    for seed in range(4):
        sc, emus, _, muxes = cabinet(ports=10, uarts=2, seed=seed)
        lo, hi, mean = _sweeps(sc, 12000)
        assert 275 <= lo and hi <= 600, (seed, lo, hi)
        means.append(mean)
        for p in range(10):
            assert sc.frames[p] >= 18 and sc.checksum_errors[p] == 0
    avg = sum(means) // len(means)
    print("sweep_ms_10_ports_2_uarts", avg, means)
    assert 380 <= avg <= 560, means
    # ports alternate between the UARTs; channel p // 2 on both multiplexers
    assert muxes[0].sources[2] is emus[4] and muxes[1].sources[2] is emus[5]


def test_a_silent_meter_does_not_stall_the_others_and_is_reported_after_silent_ms():
    sc, emus, _, _ = cabinet(ports=10, uarts=1, silent_ms=3000)
    emus[3].silent = True
    run(sc, 2500)
    assert not sc.silent(3)  # 2.5 s since start: not yet
    run(sc, 600)
    assert sc.silent(3) and sc.frames[3] == 0 and sc.misses[3] >= 3
    # its visit times out after visit_ms; the sweep stays below 1.2 s + 0.17 s
    assert sc.sweep_ms <= 1200 + sc.visit_ms
    for p in range(10):
        if p != 3:
            assert sc.frames[p] >= 3 and not sc.silent(p), p
    # back on line: reported healthy within a sweep
    emus[3].silent = False
    run(sc, 1500)
    assert sc.frames[3] >= 1 and not sc.silent(3)


def test_meter_that_stops_mid_run_goes_silent_3_s_after_its_last_frame():
    sc, emus, _, _ = cabinet(ports=10, uarts=2)
    run(sc, 2000)
    emus[6].silent = True
    n = sc.frames[6]
    t = 0
    while not sc.silent(6):
        run(sc, 10)
        t += 10
        assert t < 5000
    assert sc.frames[6] <= n + 1 and sc.age_ms(6) >= 3000
    # silent after 3 s without a frame, found within one poll of the deadline
    assert 3000 - 600 <= t <= 3000 + 10, t
    assert all(not sc.silent(p) for p in range(10) if p != 6)


def test_ticks_wrap_does_not_disturb_ages_sweeps_or_silence():
    to_wrap_ms = ((1 << 30) - CLOCK.ticks_ms()) % (1 << 30)
    if to_wrap_ms < 1500:
        to_wrap_ms += 1 << 30
    CLOCK.advance_ms(to_wrap_ms - 1500)  # start 1.5 s before ticks_ms wraps to 0
    sc, emus, _, _ = cabinet(ports=10, uarts=1)
    emus[2].silent = True
    t0 = CLOCK.ticks_ms()
    while not sc.silent(2):
        run(sc, 10)
    assert CLOCK.ticks_ms() < t0  # crossed the wrap
    assert 3000 <= CLOCK.ticks_diff(CLOCK.ticks_ms(), t0) <= 3010
    run(sc, 3000)
    assert 550 <= sc.sweep_ms <= 1200 + sc.visit_ms
    for p in range(10):
        if p != 2:
            assert not sc.silent(p) and 0 <= sc.age_ms(p) < 1400 and sc.frames[p] >= 5
            assert sc.pulses[p] > 0 and sc.jumps[p] == 0


class _DeadUart:
    def any(self):
        return 0

    def readinto(self, buf, n=-1):
        return None


def test_a_meter_dead_for_longer_than_the_ticks_range_stays_silent():
    # ticks_diff only spans 2**29 ms (6.2 days); ages saturate at 2**28 ms instead of
    # wrapping back to "fresh" after a week of a dead meter
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
    sc = MeterScanner(_DeadUart(), pins, 3, CLOCK)
    for _ in range(8 * 24):  # eight days, one poll an hour
        CLOCK.advance_ms(3600000)
        sc.poll()
        assert sc.silent(0) and sc.silent(2)
    assert sc.age_ms(1) >= 1 << 28 and sc.frames == [0, 0, 0]
    assert sc.misses[0] >= 60


def test_garbage_and_corrupt_meters():
    sc, emus, _, _ = cabinet(ports=10, uarts=1)
    emus[2].garbage = True
    emus[7].corrupt_p = 0.5
    run(sc, 8000)
    assert sc.frames[2] == 0 and sc.silent(2)
    assert sc.frames[7] >= 5 and not sc.silent(7) and sc.checksum_errors[7] >= 1
    for p in (0, 1, 3, 4, 5, 6, 8, 9):
        assert sc.checksum_errors[p] == 0 and sc.frames[p] >= 6


def test_wrong_line_settings_read_nothing():
    sc, _, us, _ = cabinet(ports=4, uarts=1)
    us[0].init(baudrate=4800, bits=8, parity=None, stop=1, rxbuf=256)
    run(sc, 3100)
    assert all(sc.silent(p) and sc.frames[p] == 0 for p in range(4))


def test_energy_through_the_scanner_equals_the_emulators_truth():
    sc, emus, _, _ = cabinet(ports=10, uarts=2, amps=0.0)
    for p in range(1, 10, 2):
        emus[p].pf_start = 65536 - 3000  # these counters wrap during the run
    run(sc, 1000)  # baselines at no load
    for p in range(10):
        emus[p].set_load(amps=2.0 + 1.5 * p, pf=0.9)  # 0.4 .. 3.2 kW
    emus[4].corrupt_p = 0.3
    run(sc, 60000)
    for p in range(10):
        emus[p].set_load(amps=0.02, watts=0.0)  # charger off: 0xF2 frames
    run(sc, 2000)
    for p in range(10):
        e = emus[p]
        e.sync()
        assert sc.pulses[p] == e.pulses and sc.energy_mwh[p] == e.truth_mwh(), p
        assert sc.jumps[p] == 0
    # 0.9 * 230 V * 14.0 A for 60 s is 48.3 Wh on port 8 (pulses of 2.724 mWh)
    assert abs(sc.energy_mwh[8] - 48300) <= 3
    assert all(emus[p].counter()[1] == 1 for p in range(1, 10, 2))  # wrapped


def test_no_heap_allocation_per_poll():
    if not hasattr(gc, "mem_alloc"):
        return  # CPython: only the MicroPython heap is meaningful
    # A replay UART allocates nothing itself, so any growth is the scanner's.
    stream = bytearray()
    for k in range(64):
        stream.extend(make_frame(230.0 - k * 0.1, 3.0, pf=0.9, pf_total=k * 8))
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
    uarts = [ReplayUart(stream), ReplayUart(stream[24 * 7 + 5:] + stream[:24 * 7 + 5])]
    sc = MeterScanner(uarts, pins, 10, CLOCK)
    for _ in range(300):  # reach steady state
        CLOCK.us += 10000
        sc.poll()
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(1000):
            CLOCK.us += 10000
            sc.poll()
        grown = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert sc.sweeps >= 15 and min(sc.frames) >= 20, (sc.sweeps, sc.frames)
    assert max(sc.pulses) > 0 and max(sc.jumps) > 0  # both energy paths were taken
    assert grown == 0, grown


def test_constructor_checks_the_select_pins_reach_every_channel():
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT[:2]]
    u = machine.UART(1, baudrate=4800, bits=8, parity=0, stop=1, tx=4, rx=12)
    try:
        MeterScanner(u, pins, 5, CLOCK)
        raise AssertionError("5 ports on 4 channels accepted")
    except ValueError:
        pass
    sc = MeterScanner([u, machine.UART(2, baudrate=4800, parity=0, tx=17, rx=16)], pins, 8, CLOCK)
    assert sc.ports == 8 and len(sc.mv) == 8


if __name__ == "__main__":
    print(sys.implementation.name)
