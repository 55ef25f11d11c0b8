"""Integer billing of one charging session: electricity fee and service fee in fen.

Money is integer fen and energy integer milli-Wh; nothing here uses floats after a
Tariff is built. Every fee is accumulated exactly as whole fen plus a remainder in
"parts" of 1/18 000 000 fen, the least common multiple of the two denominators:

    energy:  d_mwh * fen_per_kwh           / 1 000 000  fen  ->  * 18 parts
    time:    d_ms  * fen_per_hour          / 3 600 000  fen  ->  *  5 parts

so a session billed in ten thousand small steps costs exactly what one big step costs.
Totals are rounded down (`fen` is the floor of the exact total, never more than was
delivered); `energy_fen` and `service_fen` are each rounded down too, so
`fen - energy_fen - service_fen` is 0 or 1.

Tariff options (FIELD_FACTS section 2):
- `energy_fen_per_kwh` electricity price, `service_fen_per_kwh` service fee;
- `tou_fen_per_kwh`: 48 half-hour slots of electricity price in local time, replacing
  `energy_fen_per_kwh` in that slot; local time = epoch + `tz_offset_h` (default +8,
  China). Unix and ESP32 (2000-01-01) epoch seconds give the same slot: both bases are
  midnight UTC;
- `tiers`: power-tier time pricing, [[max_w, fen_per_hour], ...] by ascending max_w;
  the tier is the first whose max_w >= the present power, above the last: the last.
  Time fees count as service fee. A pure tier tariff sets both per-kWh prices to 0.
"""

_PARTS = 18000000  # parts of a fen: lcm(1e6 mWh-fen per kWh, 3.6e6 ms per hour)
_E_MUL = 18  # parts per (mWh * fen/kWh)
_T_MUL = 5  # parts per (ms * fen/hour)
_SLOT_S = 1800  # one time-of-use slot: half an hour
# epoch_s below this: the RTC after a power-up, not yet set. epoch_s is seconds since
# 2024-01-01 from the app (Clock.since2024_s, a small int on the ESP32): 1700000000 Unix
# (2023-11) is -4067200 there; Unix seconds from older callers compare the same way.
_CLOCK_KNOWN_S = -4067200
_DAY_S = 86400


def _whole(name, v, lo=0, hi=1000000):
    # Prices come from JSON; 52 and 52.0 are fine, 52.5 fen is not a price we bill.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ValueError("%s: %r is not a whole number" % (name, v))
    v = int(v)
    if not lo <= v <= hi:
        raise ValueError("%s: %d is out of range %d-%d" % (name, v, lo, hi))
    return v


class Tariff:
    """Prices of one session; immutable once built, shared by many Bills."""

    def __init__(self, energy_fen_per_kwh=52, service_fen_per_kwh=80,
                 tou_fen_per_kwh=None, tiers=None, tz_offset_h=8):
        self.energy_fen_per_kwh = _whole("energy_fen_per_kwh", energy_fen_per_kwh)
        self.service_fen_per_kwh = _whole("service_fen_per_kwh", service_fen_per_kwh)
        self.tou = None
        if tou_fen_per_kwh is not None:
            if not isinstance(tou_fen_per_kwh, (list, tuple)) or len(tou_fen_per_kwh) != 48:
                raise ValueError("tou_fen_per_kwh: needs 48 half-hour slots")
            self.tou = tuple(_whole("tou_fen_per_kwh[%d]" % i, p)
                             for i, p in enumerate(tou_fen_per_kwh))
        self.tier_w = None  # ascending max_w of each tier
        self.tier_fph = None  # fen per hour of each tier
        if tiers is not None:
            if not isinstance(tiers, (list, tuple)) or not tiers:
                raise ValueError("tiers: needs at least one [max_w, fen_per_hour]")
            ws = []
            fs = []
            for i, t in enumerate(tiers):
                if not isinstance(t, (list, tuple)) or len(t) != 2:
                    raise ValueError("tiers[%d]: %r is not [max_w, fen_per_hour]" % (i, t))
                w = _whole("tiers[%d].max_w" % i, t[0], 1, 100000)
                if ws and w <= ws[-1]:
                    raise ValueError("tiers[%d].max_w: %d is not above %d" % (i, w, ws[-1]))
                ws.append(w)
                fs.append(_whole("tiers[%d].fen_per_hour" % i, t[1]))
            self.tier_w = tuple(ws)
            self.tier_fph = tuple(fs)
        if isinstance(tz_offset_h, bool) or not isinstance(tz_offset_h, (int, float)) \
                or not -14 <= tz_offset_h <= 14:
            raise ValueError("tz_offset_h: %r is not an offset in hours" % (tz_offset_h,))
        self.tz_offset_s = int(tz_offset_h * 3600)

    @classmethod
    def from_dict(cls, d):
        """Build from a config or command dict; keys not about prices are ignored."""
        return cls(d.get("energy_fen_per_kwh", 52), d.get("service_fen_per_kwh", 80),
                   d.get("tou_fen_per_kwh"), d.get("tiers"), d.get("tz_offset_h", 8))

    def slot(self, epoch_s):
        """Index 0-47 of the local half-hour containing epoch_s."""
        return ((epoch_s + self.tz_offset_s) % _DAY_S) // _SLOT_S

    def tier_fen_per_hour(self, watts):
        """Time price for the present power (0 without tiers)."""
        ws = self.tier_w
        if ws is None:
            return 0
        n = len(ws)
        i = 0
        while i < n - 1 and watts > ws[i]:
            i += 1
        return self.tier_fph[i]


TARIFF_KEYS = ("energy_fen_per_kwh", "service_fen_per_kwh", "tou_fen_per_kwh", "tiers")


def tariff(cfg, spec=None):
    """The Tariff for the config cfg, with the prices in spec (a dict of TARIFF_KEYS, from
    a start command) in their place. ValueError when a price is bad. The one place a
    Tariff is built from config: the app at boot and on a `config` command, and a session
    with its own prices."""
    g = spec.get if spec else (lambda k, d: d)
    return Tariff(g("energy_fen_per_kwh", cfg["energy_fen_per_kwh"]),
                  g("service_fen_per_kwh", cfg["service_fen_per_kwh"]),
                  g("tou_fen_per_kwh", cfg["tou_fen_per_kwh"]),
                  g("tiers", cfg["tiers"]), cfg["tz_offset_h"])


class Bill:
    """Running bill of one session. add_* calls do small-int arithmetic only."""

    def __init__(self, tariff):
        self.tariff = tariff
        self.energy_mwh = 0  # energy billed so far
        self.time_ms = 0  # time billed by power tier so far
        self._e_fen = 0
        self._e_parts = 0  # < _PARTS
        self._s_fen = 0
        self._s_parts = 0  # < _PARTS
        self._forget_slot()

    def _forget_slot(self):
        # The TOU slot last used, as an interval [lo, hi) of epoch_s: inside it no modulo
        # is needed.
        self._slot_lo = 0
        self._slot_hi = 0
        self._slot_price = self.tariff.energy_fen_per_kwh

    def _energy_price(self, epoch_s):
        t = self.tariff
        if t.tou is None or epoch_s is None or epoch_s < _CLOCK_KNOWN_S:
            return t.energy_fen_per_kwh  # no TOU, or the wall clock unset (wallclock.py)
        if not self._slot_lo <= epoch_s < self._slot_hi:
            local = epoch_s + t.tz_offset_s
            lo = local - local % _SLOT_S
            self._slot_price = t.tou[int(lo % _DAY_S) // _SLOT_S]
            self._slot_lo = lo - t.tz_offset_s
            self._slot_hi = self._slot_lo + _SLOT_S
        return self._slot_price

    def add_energy(self, d_mwh, epoch_s=None):
        """Bill d_mwh (int >= 0) delivered at epoch_s (for TOU; None: base price).
        epoch_s: seconds since any midnight UTC; the app passes Clock.since2024_s(),
        a small int on the ESP32 where Unix seconds are a long int."""
        if d_mwh <= 0:
            return
        self.energy_mwh += d_mwh
        p = self._e_parts + d_mwh * self._energy_price(epoch_s) * _E_MUL
        if p >= _PARTS:
            c = p // _PARTS
            self._e_fen += c
            p -= c * _PARTS
        self._e_parts = p
        s = self.tariff.service_fen_per_kwh
        if s:
            self._add_service(d_mwh * s * _E_MUL)

    def add_time(self, d_ms, watts):
        """Bill d_ms (int >= 0) of charging at `watts` by power tier (no-op without)."""
        if d_ms <= 0 or self.tariff.tier_w is None:
            return
        self.time_ms += d_ms
        self._add_service(d_ms * self.tariff.tier_fen_per_hour(watts) * _T_MUL)

    def _add_service(self, parts):
        p = self._s_parts + parts
        if p >= _PARTS:
            c = p // _PARTS
            self._s_fen += c
            p -= c * _PARTS
        self._s_parts = p

    @property
    def energy_fen(self):
        return self._e_fen

    @property
    def service_fen(self):
        return self._s_fen

    @property
    def fen(self):
        """Total in fen: the floor of the exact electricity + service total."""
        return self._e_fen + self._s_fen + (self._e_parts + self._s_parts) // _PARTS

    def state(self):
        """(energy_mwh, time_ms, energy_fen, energy_parts, service_fen, service_parts)."""
        return (self.energy_mwh, self.time_ms, self._e_fen, self._e_parts,
                self._s_fen, self._s_parts)

    def restore(self, state):
        """Continue from a state() tuple (e.g. read back from the journal)."""
        if len(state) != 6:
            raise ValueError("bill state: needs 6 ints, got %d" % len(state))
        for v in state:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError("bill state: %r is not an int >= 0" % (v,))
        if state[3] >= _PARTS or state[5] >= _PARTS:
            raise ValueError("bill state: remainder out of range")
        (self.energy_mwh, self.time_ms, self._e_fen, self._e_parts,
         self._s_fen, self._s_parts) = state
        self._forget_slot()
