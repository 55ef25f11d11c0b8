# End-of-charge judgement (firmware/core/judge.py Judge) fed reading by reading: the window
# average behind `unplugged` and the full/recharge hysteresis around full_w.
from firmware.core import codes
from firmware.core.judge import JUDGED_FULL, Judge, Rules
from firmware.system.config import defaults

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

STEP_MS = 1000  # one fresh reading a second (a 10-port meter sweep)


class Feed:
    """A Judge with the default config fed readings; energy integrates the power exactly."""

    def __init__(self):
        self.cfg = defaults()
        self.judge = Judge(Rules(self.cfg))
        self.mws_ms = 0  # energy in mW*ms (3 600 000 of them make 1 mWh)
        self.t_ms = 0
        self.full_at_ms = None
        self.verdicts = []  # (t_ms, reason)

    def run(self, mw, ms):
        """Readings at mw for ms; returns the first verdict in that time, or None."""
        end = self.t_ms + ms
        while self.t_ms < end:
            self.t_ms += STEP_MS
            self.mws_ms += mw * STEP_MS
            reason = self.judge.judge(STEP_MS, mw, self.mws_ms // 3600000)
            if reason == JUDGED_FULL:
                reason = None
                if self.full_at_ms is None:
                    self.full_at_ms = self.t_ms
            if reason is not None:
                self.verdicts.append((self.t_ms, reason))
                return reason
        return None


def _lcg(seed):
    x = [seed]

    def nxt(n):
        x[0] = (x[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return x[0] % n
    return nxt


def test_straight_drop_to_zero_is_unplugged_after_the_window():
    # The control case for the next test: the same charger, no idle draw at all.
    f = Feed()
    assert f.run(150000, 600000) is None  # constant current at 150 W
    t0 = f.t_ms
    assert f.run(0, 3600000) == codes.UNPLUGGED
    window_ms = f.cfg["unplug_s"] * 1000
    assert window_ms <= f.verdicts[0][0] - t0 <= window_ms + 2 * STEP_MS, f.verdicts


def test_idle_charger_with_bursts_averaging_above_unplug_w_is_never_unplugged():
    # A charger that has finished idles at 1.5 W but wakes for 1 s in 10 at 20 W (its fan,
    # a top-up pulse): most readings are below unplug_w (2.5 W) and the stretch below
    # full_w shows little taper at first, but the window average is 3.35 W: the battery
    # is still on the charger. Judging each reading without the average would end the
    # session `unplugged` after unplug_s.
    f = Feed()
    assert f.run(150000, 600000) is None
    end_ms = f.t_ms + 2 * 3600000
    reason = None
    while reason is None and f.t_ms < end_ms:
        reason = f.run(1500, 9000) or f.run(20000, 1000)
    assert reason != codes.UNPLUGGED, f.verdicts
    assert f.full_at_ms is not None, "the taper of the bursts makes it full in the end"


def test_noise_around_full_w_does_not_restart_the_below_full_stretch():
    # Constant voltage ending: power wanders 25-35 W around full_w = 30 W. Only power
    # clearly back at charging level (>= 1.25 * full_w = 37.5 W) restarts the stretch
    # below full_w; readings in 30-37.5 W neither count nor reset it, so full comes after
    # full_confirm_s of below-full readings (about 2 * 300 s here).
    f = Feed()
    rnd = _lcg(7)
    assert f.run(150000, 600000) is None
    t0 = f.t_ms
    while f.full_at_ms is None and f.t_ms < t0 + 3600000:
        assert f.run(25000 + rnd(10001), STEP_MS) is None
    assert f.full_at_ms is not None, "noise around full_w kept restarting the stretch"
    assert f.full_at_ms - t0 <= 900000, f.full_at_ms - t0


def test_power_back_at_charging_level_restarts_the_below_full_stretch():
    # The other side of the hysteresis: a real return to charging (>= 37.5 W) resets it.
    f = Feed()
    assert f.run(150000, 600000) is None
    assert f.run(20000, 240000) is None  # 240 s of taper, full_confirm_s is 300 s
    assert f.run(40000, 10000) is None
    assert f.run(20000, 240000) is None and f.full_at_ms is None
    assert f.run(20000, 70000) is None and f.full_at_ms is not None
