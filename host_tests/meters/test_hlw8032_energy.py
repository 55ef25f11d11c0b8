# Energy from the HLW8032 PF pulse counter: wraps, the bit-7 toggle, jump rejection and
# exact integer milli-Wh against the emulator's truth.
from hlw8032_emu import PPARAM, HLW8032Emu
from vclock import CLOCK

from drivers import hlw8032 as h

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

C = PPARAM * 1880  # Pparam * Kv*Ki(milli): micro-Wh per pulse times 3 600 000


def _exact_mwh(pulses, c=C):
    return pulses * c // 3600000000


class _Visits:
    """Reads about two frames every `period_s`, as multiplexer visits would."""

    def __init__(self, emu, energy):
        self.emu = emu
        self.energy = energy
        self.reader = h.StreamReader()
        self.last_us = None
        self.counts = []

    def run(self, period_s, for_s):
        end = CLOCK.us + for_s * 1000000
        while CLOCK.us < end:
            out = bytearray()
            t = CLOCK.us
            self.emu.bytes_between(t, t + 112000, None, out)
            self.reader.reset()
            if self.reader.feed(out):
                v = self.reader.values
                el = -1 if self.last_us is None else (t - self.last_us) // 1000
                self.energy.update(v[h.PF_COUNT], v[h.PF_CARRY], v[h.P_PARAM], el)
                self.counts.append(v[h.PF_COUNT])
                self.last_us = t
            CLOCK.us = t + period_s * 1000000


def test_three_16_bit_wraps_equal_the_emulator_truth_exactly():
    t0 = CLOCK.us

    def load(t_us):  # plugged at 2 s, ramping 3.2 kW -> 4.3 kW, switched off at 560 s
        s = (t_us - t0) / 1000000
        if s < 2 or s >= 560:
            return 230.0, 0.04, 0.0
        w = 3200.0 + 2.0 * s
        return 230.0, w / 230.0 / 0.97, w

    emu = HLW8032Emu(load=load, pf_start=40000)
    energy = h.PulseEnergy()
    v = _Visits(emu, energy)
    v.run(1, 600)  # one reading a second, like a 10-port sweep
    emu.sync()
    wraps = sum(1 for a, b in zip(v.counts, v.counts[1:]) if b < a)
    assert wraps == 3 and emu.pulses + 40000 > 3 * 65536, (wraps, emu.pulses)
    assert energy.pulses == emu.pulses
    assert energy.mwh == emu.truth_mwh() == _exact_mwh(emu.pulses)
    assert abs(energy.mwh / 1000 - emu.energy_wh()) < 0.003  # one pulse = 2.724 mWh
    assert (energy.jumps, energy.missed_wraps) == (0, 0)


def test_a_full_wrap_between_readings_is_recovered_from_the_toggle_bit():
    emu = HLW8032Emu(volts=230.0, amps=0.0, pf=1.0, pf_start=60000)
    energy = h.PulseEnergy()
    v = _Visits(emu, energy)
    v.run(1, 1)  # baseline at no load
    # 4 kW gives 408 pulses/s; read every 200 s: 81 600 pulses, more than one wrap
    emu.set_load(amps=4000 / 230.0)
    v.run(200, 1200)
    assert energy.missed_wraps >= 5 and energy.jumps == 0
    emu.set_load(amps=0.0)
    v.run(200, 200)
    assert energy.pulses == emu.pulses > 6 * 65536
    assert energy.mwh == emu.truth_mwh()


def test_wrap_arithmetic_cases():
    cases = (  # (last, last carry, count, carry, expected delta)
        (65000, 0, 100, 1, 636),  # one wrap, toggle agrees
        (65000, 0, 100, 0, 636 + 65536),  # two wraps: toggle back
        (100, 0, 200, 0, 100),
        (100, 0, 200, 1, 100 + 65536),  # a whole wrap missed
        (100, 1, 100, 0, 65536),  # exactly one wrap
        (100, 1, 100, 1, 0),
    )
    for last, lc, count, carry, want in cases:
        e = h.PulseEnergy()
        e.update(last, lc, PPARAM, -1)
        assert e.update(count, carry, PPARAM, 600000) == want, (last, count)
        assert e.pulses == want and e.mwh == _exact_mwh(want)


def test_absurd_jump_is_rejected_counted_and_rebaselined():
    e = h.PulseEnergy(max_w=5000)  # 5 kW is 510 pulses/s
    e.update(1000, 0, PPARAM, -1)
    assert e.update(1400, 0, PPARAM, 1000) == 400
    assert e.update(31400, 0, PPARAM, 1000) == -1  # 30 000 pulses in 1 s: 110 kW
    assert (e.jumps, e.pulses) == (1, 400)
    assert e.update(31800, 0, PPARAM, 1000) == 400  # counting goes on from there
    assert e.update(100, 0, PPARAM, 50) == -1  # the chip restarted its counter
    assert (e.jumps, e.pulses, e.mwh) == (2, 800, _exact_mwh(800))


def test_remainders_keep_every_fraction_of_a_pulse():
    e = h.PulseEnergy()
    e.update(0, 0, PPARAM, -1)
    count = 0
    for k in range(3000):  # 1, 2 or 3 pulses at a time: 2.724 mWh each
        count += 1 + k % 3
        e.update(count & 0xFFFF, (count >> 16) & 1, PPARAM, 1000)
    assert e.pulses == count and e.mwh == _exact_mwh(count)
    # flooring every step instead would have lost up to 1 mWh per update
    assert e.mwh - sum(_exact_mwh(1 + k % 3) for k in range(3000)) > 1000


def test_exact_for_any_power_parameter_and_big_deltas():
    for pparam in (1, 999, 4000000, PPARAM, (1 << 24) - 1):
        for kv, ki in ((1.88, 1.0), (2.0, 1.5), (1.88, 10.0)):
            e = h.PulseEnergy(kv, ki, max_w=10 ** 9)
            kp = h.milli(kv) * h.milli(ki) // 1000
            e.update(0, 0, pparam, -1)
            total = 0
            for step in (1, 65535, 131071, 7, 40000, 131070):
                total += step
                e.update(total & 0xFFFF, (total >> 16) & 1, pparam, 600000)
            assert e.pulses == total, (pparam, kv, ki)
            assert e.mwh == total * pparam * kp // 3600000000, (pparam, kv, ki)


def test_frames_without_a_power_parameter_do_not_count():
    e = h.PulseEnergy()
    assert e.update(5, 0, 0, -1) == 0
    e.update(10, 0, PPARAM, -1)
    assert e.update(20, 0, 0, 1000) == 0 and e.pulses == 0
    assert e.update(30, 0, PPARAM, 1000) == 20


def test_pulse_energy_reads_the_decoders_slots():
    # drivers/pulse_energy.py copies hlw8032's slot numbers (hlw8032 imports it): the same
    out = h.new_out()
    out[h.PF_COUNT] = 7
    out[h.PF_CARRY] = 0
    out[h.P_PARAM] = 5000
    a, b = h.PulseEnergy(), h.PulseEnergy()
    a.take(out, 1000)
    b.update(7, 0, 5000, 1000)
    out[h.PF_COUNT] = 40
    b.update(40, 0, 5000, 1000)
    a.take(out, 1000)
    assert (a.pulses, a.mwh) == (b.pulses, b.mwh) and a.pulses > 0
