"""Fail safe means the relay opens first: on every safety stop the relay pin goes low
before the firmware writes anything to flash (journal save, outbox put) and before the
alarm record is queued. A flash write takes 10-100 ms on the device (longer when littlefs
has to erase a block), so a stop that writes first keeps a short circuit or a fire fed
for that long.

The firmware core runs in-process (CPython) on the virtual board, with spies on the
relay driver, the journal and the outbox recording the order of their calls inside each
detector call (Protection.trip, meter_silent, sensors; App.estop).
"""

import scenario as scenario_mod
from run import Sim


class _Null:
    def write(self, s):
        pass


class OrderSpy:
    """Each top-level detector call is one segment: the relay writes, journal saves and
    outbox puts made inside it, in order."""

    def __init__(self, app, detectors):
        self.segments = []
        self.depth = 0
        self.cur = None
        self._wrap(app.relays, "set", lambda p, on: ("relay", p, on))
        self._wrap(app.persist.journal, "save", lambda p, rec: ("journal", p, rec.get("state")))
        self._wrap(app.persist.outbox, "put", lambda kind, payload: ("outbox", kind,
                                                                      payload.get("code")))
        for obj, name in detectors:
            self._segment(obj, name)

    def _wrap(self, obj, name, describe):
        orig = getattr(obj, name)

        def spy(*args):
            if self.cur is not None:
                self.cur.append(describe(*args))
            return orig(*args)

        setattr(obj, name, spy)

    def _segment(self, obj, name):
        orig = getattr(obj, name)

        def detector(*args, **kw):
            if self.depth == 0:
                self.cur = [("call", name) + args]
            self.depth += 1
            try:
                return orig(*args, **kw)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.segments.append(self.cur)
                    self.cur = None

        setattr(obj, name, detector)

    def stops(self):
        """The segments that opened a relay or wrote to flash (the others only looked)."""
        return [s for s in self.segments if len(s) > 1]


def _run(events, ports=2, duration_s=600, config=None):
    cab = {"ports": ports}
    if config:
        cab["config"] = config
    sc = scenario_mod.load({"cabinet": cab, "duration_s": duration_s, "events": events})
    sim = Sim(sc, _Null(), panel=False)
    app = sim.app
    detectors = [(app, "_sensors"), (app, "estop")]
    for port in app.ports:
        detectors += [(port, "trip"), (port, "meter_silent")]
    spy = OrderSpy(app, detectors)
    sim.run()
    sim.close()
    return spy


def _charging(port, t=1, model="lead_acid_48v_20ah"):
    return [{"t": t, "port": port, "plug": {"model": model, "soc": 0.3}},
            {"t": t + 1, "cmd": {"op": "start", "port": port, "limit": {"full": True}}}]


def _assert_relays_first(seg, ports):
    """Every port in ports is switched off before the first flash write of the segment."""
    writes = [i for i, e in enumerate(seg) if e[0] in ("journal", "outbox")]
    assert writes, "the stop wrote nothing: %s" % seg
    first_write = writes[0]
    for p in ports:
        offs = [i for i, e in enumerate(seg) if e[:3] == ("relay", p, False)]
        assert offs, "port %d never switched off in %s" % (p, seg)
        assert offs[0] < first_write, "port %d: flash written before its relay opened: %s" % (
            p, seg[:first_write + 2])
    alarms = [i for i, e in enumerate(seg) if e[:2] == ("outbox", "alarm")]
    assert alarms and all(max(_offs(seg, p)) < alarms[0] for p in ports), seg


def _offs(seg, p):
    return [i for i, e in enumerate(seg) if e[:3] == ("relay", p, False)][:1]


def test_overcurrent_trip_opens_the_relay_before_any_flash_write():
    spy = _run(_charging(0) + [{"t": 100, "port": 0, "fault": "short"}])
    stops = spy.stops()
    assert [s[0][:2] for s in stops] == [("call", "trip")], stops
    _assert_relays_first(stops[0], [0])
    assert ("outbox", "alarm", "overcurrent") in stops[0]


def test_overpower_trip_opens_the_relay_before_any_flash_write():
    spy = _run(_charging(1) + [{"t": 100, "port": 1, "fault": "overload"}])
    stops = spy.stops()
    assert [s[0][:2] for s in stops] == [("call", "trip")], stops
    _assert_relays_first(stops[0], [1])
    assert ("outbox", "alarm", "overpower") in stops[0]


def test_port_overtemp_trip_opens_the_relay_before_any_flash_write():
    spy = _run(_charging(0) + [{"t": 100, "temp": {"sensor": "port", "port": 0, "c": 95}}])
    stops = spy.stops()
    assert stops and stops[0][0][:2] == ("call", "_sensors"), stops
    _assert_relays_first(stops[0], [0])
    assert ("outbox", "alarm", "port_overtemp") in stops[0]


def test_silent_meter_opens_the_relay_before_any_flash_write():
    spy = _run(_charging(0) + [{"t": 100, "port": 0, "fault": "meter_silent"}])
    stops = spy.stops()
    assert stops and stops[0][0][:2] == ("call", "meter_silent"), stops
    _assert_relays_first(stops[0], [0])
    assert ("outbox", "alarm", "meter_silent") in stops[0]


def test_smoke_opens_every_relay_before_any_flash_write():
    spy = _run(_charging(0) + _charging(1, t=3) + [{"t": 100, "smoke": True}])
    stops = spy.stops()
    assert stops and stops[0][0][:2] == ("call", "_sensors"), stops
    _assert_relays_first(stops[0], [0, 1])
    assert ("outbox", "alarm", "smoke") in stops[0]


def test_cabinet_overtemp_opens_every_relay_before_any_flash_write():
    spy = _run(_charging(0) + _charging(1, t=3) +
               [{"t": 100, "temp": {"sensor": "cabinet", "c": 92}}])
    stops = [s for s in spy.stops() if ("outbox", "alarm", "cabinet_overtemp") in s]
    critical = [s for s in stops if any(e[:3] == ("relay", 0, False) for e in s)]
    assert critical, spy.stops()
    _assert_relays_first(critical[0], [0, 1])


def test_estop_opens_every_relay_before_any_flash_write():
    spy = _run(_charging(0) + _charging(1, t=3) + [{"t": 100, "cmd": {"op": "estop"}}])
    stops = [s for s in spy.stops() if s[0][:2] == ("call", "estop")]
    assert len(stops) == 1, spy.stops()
    seg = stops[0]
    writes = [i for i, e in enumerate(seg) if e[0] in ("journal", "outbox")]
    for p in (0, 1):
        assert _offs(seg, p) and _offs(seg, p)[0] < writes[0], seg
