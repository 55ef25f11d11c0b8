"""Physical models of e-bike chargers as seen from the AC socket (FIELD_FACTS section 3).

    load = make_load({"model": "lead_acid_48v_20ah", "soc": 0.3}, seed=7)
    load.advance(dt_ms, powered)   # physics; charger time runs only while powered
    load.watts(), load.pf(), load.amps(220.0), load.soc, load.stage, load.resistive

`watts()` is what the load draws *if* its relay is closed (the board decides whether it
is); it carries +-0.75 % measurement-like noise, redrawn on every advance() from a
seeded xorshift32, so a seed gives the same run on CPython and on MicroPython.
Each seed also varies the charger a little (the ranges below).

Models (AC side; soc rises with the energy the battery accepts, W * eff):
- lead_acid_48v_20ah: 960 Wh, eff 0.80. CC: (168 + 20*soc) W x 0.97-1.03 (~172-191 W),
  pf 0.58-0.63, up to soc 0.85; CV: power falls linearly with soc to 60 W at soc 0.89,
  then decays exponentially in time over 1.6-2.0 h down to the 22-30 W switch point
  (the green LED); float: 4-7 W plus a part that decays from ~5 W (tau 1 h), so
  ~9-12 W falling to 4-7 W. Soc 0.2 -> float in ~6.3-7.1 h.
- lithium_48v_4a: 624 Wh (48 V 13 Ah), eff 0.85. CC: (178 + 8*soc) W x 0.97-1.03
  (~173-191 W), pf 0.55-0.65, up to soc 0.93; CV: exponential taper, tau 15-20 min, down
  to a 9-11 W cut-off (~45-60 min; under 30 W for 15-22 min); done: 0.5-1.5 W, soc 1.0.
- lithium_handshake: as lithium_48v_4a after a GB 43854 recognition handshake of
  38-42 s powered at 0.2-0.5 W. Like a real charger it handshakes again whenever its
  supply was off for more than 1 s (a power cut, a relay cycle).
- clocking_lithium: as lithium_48v_4a; once done, it tops up every 2-4 h of powered time
  for 3-6 min, from a 12-20 W peak falling linearly to 4 W.
- idle_charger: no battery: 1.5-4.5 W with a +-0.4 W slow wander, forever.
- heater_1500w: resistive 1500 W, pf 1.0.
- curve: {"curve": [[s, W], ...], "pf": 0.6}: AC watts against powered seconds since
  plug, linear between points, the first value before the first point, the last held.
Power factor of switch-mode chargers falls at light load: pf = 0.35 + (pf_cc - 0.35) *
min(1, W / 60 W).

Fault loads (make_fault, for the board's `fault` events): short: 40 A at 220 V
(8800 W, pf 1.0, resistive); overload: from the present power linearly to 1050 W in
10 s (past 1000 W at ~9.5 s), then to 1300 W at 70 s, held; pf 0.98, so at 220 V the
current stays under 5.5 A until ~1186 W (~43 s): an overpower trip, not overcurrent;
heater: heater_1500w. relay_weld and meter_* faults are the board's, not loads.
"""

import math

MODELS = ("lead_acid_48v_20ah", "lithium_48v_4a", "lithium_handshake",
          "clocking_lithium", "idle_charger", "heater_1500w")
BATTERY_MODELS = MODELS[:4]
FAULT_LOADS = ("short", "overload", "heater")
NOMINAL_V = 220.0
_NOISE = 0.0075  # +-0.75 % of reading
_STEP_MS = 5000  # longest physics sub-step


class Rng:
    """xorshift32: the same integers on every VM for a seed."""

    def __init__(self, seed):
        s = ((seed & 0xFFFFFFFF) * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
        self.s = s or 0x6D2B79F5

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def random(self):
        return self.next() / 4294967296.0

    def uniform(self, a, b):
        return a + (b - a) * self.random()


class Load:
    """Base: a constant load. Subclasses set self._w (watts before noise) in _step."""

    model = ""
    resistive = False
    soc = None  # state of charge 0-1 where a battery is modelled

    def __init__(self, seed, w=0.0, pf=1.0):
        self._rng = Rng(seed)
        self._w = w
        self._pf_cc = pf
        self._jitter = 1.0 + self._rng.uniform(-_NOISE, _NOISE)
        self.stage = "on"
        self.powered_ms = 0  # total time with power: the load's own clock
        self.off_ms = 0  # time since power was last removed

    def advance(self, dt_ms, powered):
        if dt_ms <= 0:
            return
        if powered:
            if self.off_ms > 1000:
                self._restart()
            self.off_ms = 0
            while dt_ms > 0:
                d = min(_STEP_MS, dt_ms)
                self._step(d)
                self.powered_ms += d
                dt_ms -= d
        else:
            self.off_ms += dt_ms
        self._jitter = 1.0 + self._rng.uniform(-_NOISE, _NOISE)

    def _step(self, d_ms):
        pass

    def _restart(self):
        # The charger's supply was off long enough for it to reset.
        pass

    def watts(self):
        return self._w * self._jitter

    def pf(self):
        return self._pf_cc

    def amps(self, volts=NOMINAL_V):
        """RMS current at `volts` if powered."""
        return self.watts() / (volts * self.pf()) if volts > 0 else 0.0


class _SwitchMode(Load):
    def pf(self):
        f = self._w / 60.0
        return 0.35 + (self._pf_cc - 0.35) * min(1.0, f)


def _cv_offset_s(soc, soc_cv, p0, p_end, tau_s, cap_wh, eff):
    # Time into an exponential CV taper p0*exp(-t/tau) at which the battery has gained
    # soc - soc_cv; None when that is past the end of the taper.
    gained_wh = (soc - soc_cv) * cap_wh / eff
    total_wh = p0 * (1.0 - p_end / p0) * tau_s / 3600.0
    if gained_wh >= total_wh:
        return None
    return -tau_s * math.log(1.0 - gained_wh / (p0 * tau_s / 3600.0))


class LeadAcid(_SwitchMode):
    model = "lead_acid_48v_20ah"
    CAP_WH = 960.0
    EFF = 0.80
    SOC_KNEE = 0.85  # CC ends: the pack reaches the CV voltage
    SOC_CV = 0.89  # current has fallen to ~60 W of AC: exponential taper from here
    CV_START_W = 60.0

    def __init__(self, seed, soc=0.2):
        Load.__init__(self, seed)
        r = self._rng
        self.scale = r.uniform(0.97, 1.03)
        self._pf_cc = r.uniform(0.58, 0.63)
        self.switch_w = r.uniform(22.0, 30.0)  # the green LED: switch to float
        cv_s = r.uniform(1.6, 2.0) * 3600.0
        self.tau_s = cv_s / math.log(self.CV_START_W / self.switch_w)
        self.float_w = r.uniform(4.0, 7.0)
        self.soc = soc
        self.cv_s = 0.0  # time in the exponential part of CV
        self.float_s = 0.0
        self.stage = "cc" if soc < self.SOC_KNEE else "cv"
        if soc >= self.SOC_CV:
            off = _cv_offset_s(soc, self.SOC_CV, self.CV_START_W, self.switch_w,
                               self.tau_s, self.CAP_WH, self.EFF)
            if off is None:
                self.stage = "float"
            else:
                self.cv_s = off
        self._w = self._power()

    def _cc_w(self, soc):
        return self.scale * (168.0 + 20.0 * soc)

    def _power(self):
        soc = self.soc
        if self.stage == "cc":
            return self._cc_w(soc)
        if self.stage == "cv":
            if soc < self.SOC_CV:
                top = self._cc_w(self.SOC_KNEE)
                f = (soc - self.SOC_KNEE) / (self.SOC_CV - self.SOC_KNEE)
                return top + (self.CV_START_W - top) * f
            return self.CV_START_W * math.exp(-self.cv_s / self.tau_s)
        return self.float_w + 5.0 * math.exp(-self.float_s / 3600.0)

    def _step(self, d_ms):
        dt = d_ms / 1000.0
        w = self._power()
        self.soc = min(1.0, self.soc + w * self.EFF * dt / 3600.0 / self.CAP_WH)
        if self.stage == "cc":
            if self.soc >= self.SOC_KNEE:
                self.stage = "cv"
        elif self.stage == "cv":
            if self.soc >= self.SOC_CV or self.cv_s > 0:
                self.cv_s += dt
            if self._power() <= self.switch_w:
                self.stage = "float"
        else:
            self.float_s += dt
        self._w = self._power()


class Lithium(_SwitchMode):
    model = "lithium_48v_4a"
    CAP_WH = 624.0
    EFF = 0.85
    SOC_CV = 0.93

    def __init__(self, seed, soc=0.2):
        Load.__init__(self, seed)
        r = self._rng
        self.scale = r.uniform(0.97, 1.03)
        self._pf_cc = r.uniform(0.55, 0.65)
        self.tau_s = r.uniform(15.0, 20.0) * 60.0
        self.end_w = r.uniform(9.0, 11.0)  # charge-termination current, as AC watts
        self.done_w = r.uniform(0.5, 1.5)
        self.soc = soc
        self.cv_s = 0.0
        self.cv_w = self._cc_w(self.SOC_CV)  # power where CV starts
        self.stage = "cc"
        if soc >= 1.0:
            self._finish()
        elif soc >= self.SOC_CV:
            off = _cv_offset_s(soc, self.SOC_CV, self.cv_w, self.end_w, self.tau_s,
                               self.CAP_WH, self.EFF)
            if off is None:
                self._finish()
            else:
                self.stage = "cv"
                self.cv_s = off
        self._w = self._power()

    def _cc_w(self, soc):
        return self.scale * (178.0 + 8.0 * soc)

    def _finish(self):
        self.stage = "done"
        self.soc = 1.0

    def _power(self):
        if self.stage == "cc":
            return self._cc_w(self.soc)
        if self.stage == "cv":
            return self.cv_w * math.exp(-self.cv_s / self.tau_s)
        return self.done_w

    def _step(self, d_ms):
        dt = d_ms / 1000.0
        if self.stage != "cc" and self.stage != "cv":  # done (or a subclass's top-up)
            self._done_step(dt)
            return
        w = self._power()
        self.soc = min(1.0, self.soc + w * self.EFF * dt / 3600.0 / self.CAP_WH)
        if self.stage == "cc":
            if self.soc >= self.SOC_CV:
                self.stage = "cv"
                self.cv_w = w
        else:
            self.cv_s += dt
            if self._power() <= self.end_w:
                self._finish()
        self._w = self._power()

    def _done_step(self, dt):
        self._w = self.done_w


class LithiumHandshake(Lithium):
    model = "lithium_handshake"

    def __init__(self, seed, soc=0.2):
        Lithium.__init__(self, seed, soc)
        self.handshake_s = self._rng.uniform(38.0, 42.0)
        self.handshake_w = self._rng.uniform(0.2, 0.5)
        self._restart()

    def _restart(self):
        self.shake_left_s = self.handshake_s
        self._w = self.handshake_w

    def _step(self, d_ms):
        if self.shake_left_s <= 0:
            Lithium._step(self, d_ms)
            return
        self.shake_left_s -= d_ms / 1000.0
        self._w = self.handshake_w if self.shake_left_s > 0 else self._power()


class ClockingLithium(Lithium):
    model = "clocking_lithium"

    def __init__(self, seed, soc=0.2):
        Lithium.__init__(self, seed, soc)
        self._plan_topup()

    def _plan_topup(self):
        r = self._rng
        self.next_topup_s = r.uniform(2.0, 4.0) * 3600.0  # powered time while done
        self.topup_s = r.uniform(3.0, 6.0) * 60.0
        self.topup_peak_w = r.uniform(12.0, 20.0)
        self.topup_t = 0.0

    def _done_step(self, dt):
        if self.stage == "done":
            self.next_topup_s -= dt
            if self.next_topup_s <= 0:
                self.stage = "topup"
                self._w = self.topup_peak_w
            else:
                self._w = self.done_w
            return
        self.topup_t += dt
        f = self.topup_t / self.topup_s
        if f >= 1.0:
            self.stage = "done"
            self._plan_topup()
            self._w = self.done_w
            return
        self._w = self.topup_peak_w + (4.0 - self.topup_peak_w) * f


class IdleCharger(_SwitchMode):
    model = "idle_charger"

    def __init__(self, seed):
        Load.__init__(self, seed)
        r = self._rng
        self.base_w = r.uniform(1.5, 4.5)
        self.period_s = r.uniform(1200.0, 2400.0)
        self._pf_cc = r.uniform(0.5, 0.6)
        self.stage = "idle"
        self._step(0)

    def _step(self, d_ms):
        t = (self.powered_ms + d_ms) / 1000.0
        self._w = self.base_w + 0.4 * math.sin(6.2831853 * t / self.period_s)


class Resistive(Load):
    """pf 1.0: the 1500 W heater, or a short circuit (40 A through ~5.5 ohm)."""

    resistive = True

    def __init__(self, seed, w, model):
        Load.__init__(self, seed, w, 1.0)
        self.model = model


class Curve(Load):
    """Custom load: AC watts against powered seconds since the plug event."""

    model = "curve"

    def __init__(self, seed, points, pf=0.6):
        if not points:
            raise ValueError("curve: needs at least one [s, W] point")
        self._pts = [(float(s), float(w)) for s, w in points]
        for i in range(1, len(self._pts)):
            if self._pts[i][0] < self._pts[i - 1][0]:
                raise ValueError("curve: seconds must not decrease")
        Load.__init__(self, seed, self._pts[0][1], pf)
        self.stage = "curve"
        self._i = 0  # segment index: _pts[_i][0] <= t (curve time only grows)

    def _step(self, d_ms):
        t = (self.powered_ms + d_ms) / 1000.0
        pts = self._pts
        n = len(pts)
        while self._i + 1 < n and pts[self._i + 1][0] <= t:
            self._i += 1
        s0, w0 = pts[self._i]
        if self._i + 1 >= n or t <= s0:
            self._w = w0
        else:
            s1, w1 = pts[self._i + 1]
            self._w = w0 + (w1 - w0) * (t - s0) / (s1 - s0)


class Overload(Load):
    model = "overload"

    def __init__(self, seed, present_w=0.0):
        Load.__init__(self, seed, present_w, 0.98)
        self.start_w = min(1050.0, present_w)
        self.stage = "ramp"

    def _step(self, d_ms):
        t = (self.powered_ms + d_ms) / 1000.0
        if t < 10.0:
            w = self.start_w + (1050.0 - self.start_w) * t / 10.0
        elif t < 70.0:
            w = 1050.0 + 250.0 * (t - 10.0) / 60.0
        else:
            w = 1300.0
        self._w = max(self._w, w)


_BY_NAME = {"lead_acid_48v_20ah": LeadAcid, "lithium_48v_4a": Lithium,
            "lithium_handshake": LithiumHandshake, "clocking_lithium": ClockingLithium}


def make_load(plug, seed=1):
    """A load from a scenario plug dict: {"model": NAME, "soc": x} or {"curve": ..., "pf": x}."""
    if "curve" in plug:
        return Curve(seed, plug["curve"], plug.get("pf", 0.6))
    name = plug.get("model")
    if name in _BY_NAME:
        return _BY_NAME[name](seed, plug.get("soc", 0.2))
    if name == "idle_charger":
        return IdleCharger(seed)
    if name == "heater_1500w":
        return Resistive(seed, 1500.0, name)
    raise ValueError("plug: unknown model %r" % (name,))


def make_fault(kind, present_w=0.0, seed=1):
    """A fault load replacing a port's charger: short, overload or heater."""
    if kind == "short":
        return Resistive(seed, 40.0 * NOMINAL_V, "short")
    if kind == "overload":
        return Overload(seed, present_w)
    if kind == "heater":
        return Resistive(seed, 1500.0, "heater_1500w")
    raise ValueError("fault: %r is not a load fault" % (kind,))


def randomised_plug(rng_seed):
    """A random battery model at a random soc (0.05-0.90), for randomised campaigns."""
    r = Rng(rng_seed)
    model = BATTERY_MODELS[r.next() % len(BATTERY_MODELS)]
    return {"model": model, "soc": round(r.uniform(0.05, 0.9), 2)}
