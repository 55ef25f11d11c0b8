# Every tick the device code stores is accounted for (issue 11, item 1).
#
# On the ESP32 ticks_ms() wraps at 2**30 and ticks_diff() means nothing once the true gap
# passes 2**29 ms (6.2 days), so a tick stored and compared for ever breaks a cabinet
# after 6.2 days of uptime. This lint scans firmware/, drivers/ and main.py for every
# attribute assigned from a ticks value (ticks_ms/ticks_us/ticks_add, the drivers'
# aliases, or a local or `now` argument holding one) and fails unless that attribute is
# in STORED below with how it is kept comparable (firmware/core/ticks.py):
#   fresh     its age saturates at AGE_CAP_MS at least once a second (fresh()/fresh_all(),
#             or a driver's _AGE_CAP_MS clamp); checked here: the module really calls it
#   oneshot   a one-shot deadline or window: a flag (or None) stops the comparison once
#             it is over, so it is never compared days later
#   rearmed   set again whenever it is used: a periodic deadline checked every tick, or
#             a timer armed by the operation (state) that compares it and bounded by
#             that operation's own timeout
#   no_tick   what the scan takes for a tick but is not (a duration, an epoch)
# A new stored tick fails here until someone decides which it is. The 30-day run
# (host_tests/system/test_month_uptime.py) proves the behaviour.
import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICK_FUNCS = {"ticks_ms", "ticks_us", "ticks_add", "ticks_cpu", "_tms", "_tus", "_ticks_add",
              "fresh"}
SEED_ARGS = {"now", "now_ms"}  # parameters that carry ticks_ms() by convention
FRESH_CALLS = {"fresh", "fresh_all"}

STORED = {
    # --- the firmware core ---
    "firmware/core/app.py:App.hold_until": ("fresh", "boot hold deadline; _housekeeping"),
    "firmware/core/app.py:App.last_close_ms": ("fresh", "relay stagger; _housekeeping"),
    "firmware/core/port.py:Port.state_ms": ("fresh", "port's state entry; Port.housekeeping"),
    "firmware/core/port.py:Port.last_ms": ("fresh", "last reading; Port.housekeeping"),
    "firmware/core/app.py:App.next_second": ("rearmed", "checked every tick, re-armed each second"),
    "firmware/core/feeder.py:Feeder.last_shed": ("fresh", "Feeder.refresh from _housekeeping"),
    "firmware/core/protection.py:Guard.off_ms": ("fresh", "welded-relay grace; Protection.refresh"),
    # Protection writes them into the port's Guard (g.off_ms = ...): the same two ticks.
    "firmware/core/protection.py:Protection.off_ms": ("fresh", "Guard.off_ms; refresh()"),
    "firmware/core/protection.py:Protection.over_since": ("fresh", "Guard.over_since; refresh()"),
    "firmware/core/app.py:App.ports": ("no_tick", "Port objects built with now: see Port"),
    "firmware/store/journal.py:Journal.last_ms": (
        "rearmed", "written on every save: each state change and every checkpoint_s while "
        "charging, the only time due() compares it (a negative gap counts as due)"),
    "firmware/protocol/cloud.py:Cloud._next_s": ("rearmed",
                                                 "checked every tick, re-armed each second"),
    "firmware/protocol/report.py:Report._tm_ms": ("fresh",
                                                  "telemetry period; second() once a second"),
    "firmware/protocol/report.py:Report._full_ms": ("fresh",
                                                    "full telemetry; second() once a second"),
    "firmware/protocol/cards.py:Cards.pending": (
        "rearmed", "auth requests: the oldest is dropped AUTH_KEEP_MS after it was sent "
        "(checked once a second), at most AUTH_PENDING kept"),
    "firmware/core/door.py:DoorWatch.opened_ms": (
        "rearmed", "set when the door is seen open, dropped when it closes; compared only "
        "until the alarm is raised, at most door_open_s (<= 3600 s) later"),
    "firmware/panel/panel.py:Panel.next_reader": ("rearmed", "checked every tick, re-armed"),
    "firmware/panel/panel.py:Panel.next_screen": ("rearmed", "checked every tick, re-armed"),
    "firmware/panel/panel.py:Panel.rotate_since": ("fresh", "idle rotation; step() per screen"),
    "firmware/panel/resident.py:Resident._hold_ms": (
        "oneshot", "card holdoff: _hold_card is cleared in tick() once HOLDOFF_MS is over"),
    "firmware/panel/resident.py:Resident._since": (
        "rearmed", "set on entering each state; compared only in the timed states, which "
        "end by their own timeouts (seconds)"),
    "firmware/panel/display.py:Display._hold_ms": ("oneshot", "retry hold: None once over"),
    "firmware/panel/beeper.py:Beeper._due": ("rearmed", "set by play(); compared while playing"),
    # --- network (branch net rewrites these modules: keep this list in step) ---
    "firmware/link/uplink.py:Uplink.flush_at": ("fresh", "backlog delay; _service() each step"),
    "firmware/link/uplink.py:Uplink.up_ms": ("fresh", "stable-connection check; _service()"),
    "firmware/link/uplink.py:Uplink.next_try": (
        "rearmed", "compared every step while down; a due try connects or re-arms it"),
    "firmware/link/uplink.py:Uplink.rx_ms": ("rearmed", "set at connect and on every read; "
                                        "keepalive pings keep it recent while connected"),
    "firmware/link/uplink.py:Uplink.tx_ms": ("rearmed", "set at connect and on every write"),
    "firmware/link/uplink.py:Uplink.deadline": ("rearmed", "armed by each socket operation"),
    "firmware/link/uplink.py:Uplink.last_idle": ("rearmed", "set every step"),
    "firmware/link/uplink.py:Uplink.step_ms": ("rearmed", "set every step"),
    "firmware/link/uplink.py:Uplink.ping_ms": ("oneshot", "None once the PINGRESP came; a ping "
                                          "unanswered for ping_timeout_ms drops the link"),
    "firmware/link/uplink.py:Uplink.resolve_since": ("oneshot", "None once resolved or timed out"),
    "firmware/link/netif.py:_Link.since": ("rearmed", "set on entering CONNECTING/UP; compared "
                                      "only while CONNECTING (connect_timeout_ms)"),
    "firmware/link/netif.py:_Link.next_try": (
        "rearmed", "compared every step while DOWN; a due try re-arms it"),
    "firmware/link/netif.py:Ppp.line_ms": ("rearmed", "set per chat line, compared while chatting"),
    "firmware/link/netif.py:Ntp.next_ms": ("fresh", "step() every tick, the link up or not"),
    "firmware/link/netif.py:Ntp.sent_ms": ("fresh", "step() every tick, the link up or not"),
    "firmware/link/dns.py:Resolver.pending": ("rearmed", "a query: retried every retry_ms, "
                                         "given up after `tries` sends"),
    "firmware/link/dns.py:Resolver.p[]": ("rearmed", "the pending query's send time, per send"),
    "firmware/link/dns.py:Resolver.cache": (
        "rearmed", "expiry at most _MAX_TTL_S ahead: one further off is dropped as stale"),
    # --- drivers ---
    "drivers/mfrc522.py:MFRC522._field_ms": ("oneshot", "field-on guard: _guard flag"),
    "drivers/mfrc522.py:MFRC522._last_ms": (
        "oneshot", "repeat window: _last_n cleared in poll() once repeat_ms is over"),
    "drivers/mfrc522.py:MFRC522._tried_ms": (
        "rearmed", "set whenever health is lost; compared only while unhealthy"),
    "drivers/inputs.py:Debounced._pending_ms": ("rearmed", "set when a change starts; "
                                                "compared only while it is pending"),
    "drivers/inputs.py:Debounced.since_ms": ("no_tick", "reported, never compared"),
    "drivers/keypad.py:Keypad._cand_ms": ("rearmed", "set on every change of candidate; "
                                          "compared only until it settles"),
    "drivers/meterscan.py:MeterScanner.seen_ms": ("fresh", "_AGE_CAP_MS clamp each sweep"),
    "drivers/meterscan.py:MeterScanner._visit_t0": ("rearmed", "each UART visit"),
    "drivers/meterscan.py:MeterScanner._sweep_t0": ("rearmed", "each sweep"),
    "drivers/meterscan.py:MeterScanner.sweep_ms": ("no_tick", "a duration"),
    "drivers/ct.py:CTMeters.seen_ms": ("fresh", "_AGE_CAP_MS clamp each sweep"),
    "drivers/ct.py:CTMeters._sweep_t0": ("rearmed", "each sweep"),
    "drivers/ct.py:CTMeters.sweep_ms": ("no_tick", "a duration"),
    "firmware/protocol/replay.py:ReplayGuard.time_floor": ("no_tick", "epoch seconds"),
    "firmware/core/ticks.py:.ts[]": ("no_tick", "fresh_all()'s own argument"),
}
KINDS = ("fresh", "oneshot", "rearmed", "no_tick")


def _sources():
    paths = sorted(glob.glob(os.path.join(ROOT, "firmware", "**", "*.py"), recursive=True)
                   + glob.glob(os.path.join(ROOT, "drivers", "*.py")))
    return paths + [os.path.join(ROOT, "main.py")]


def _call_name(n):
    if not isinstance(n, ast.Call):
        return None
    f = n.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _tainted(expr, names):
    for n in ast.walk(expr):
        if _call_name(n) in TICK_FUNCS or (isinstance(n, ast.Name) and n.id in names):
            return True
    return False


def _assigns(fn):
    for a in ast.walk(fn):
        if isinstance(a, ast.Assign):
            yield a, a.targets
        elif isinstance(a, ast.AnnAssign) and a.value is not None:
            yield a, [a.target]


def _scan_function(fn, cls, rel, found):
    names = {a.arg for a in fn.args.args if a.arg in SEED_ARGS}
    for _ in range(3):  # locals holding ticks, through chains of assignments
        for a, targets in _assigns(fn):
            if _tainted(a.value, names):
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    for a, targets in _assigns(fn):
        for t in targets:
            pairs = [(t, a.value)]
            if isinstance(t, ast.Tuple) and isinstance(a.value, ast.Tuple):
                pairs = list(zip(t.elts, a.value.elts))
            for tt, vv in pairs:
                if not _tainted(vv, names):
                    continue
                if isinstance(tt, ast.Subscript) and isinstance(tt.value, ast.Name):
                    found.setdefault("%s:%s.%s[]" % (rel, cls, tt.value.id), a.lineno)
                    continue
                if isinstance(tt, ast.Subscript):
                    tt = tt.value
                if isinstance(tt, ast.Attribute):
                    found.setdefault("%s:%s.%s" % (rel, cls, tt.attr), a.lineno)
    for n in ast.walk(fn):  # self.pending.append([..., ticks_ms()])
        if (_call_name(n) in ("append", "insert") and isinstance(n.func.value, ast.Attribute)
                and any(_tainted(x, names) for x in n.args)):
            found.setdefault("%s:%s.%s" % (rel, cls, n.func.value.attr), n.lineno)


def scan(paths=None):
    """{"file:Class.attr": line} of every attribute assigned a ticks value."""
    found = {}
    for path in paths or _sources():
        rel = os.path.relpath(path, ROOT)
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef):
                        _scan_function(fn, node.name, rel, found)
            elif isinstance(node, ast.FunctionDef):
                _scan_function(node, "", rel, found)
    return found


def _refreshed(rel, attr):
    """Does module rel pass attribute `attr` through fresh()/fresh_all() or clamp it
    with a driver's _AGE_CAP_MS?"""
    with open(os.path.join(ROOT, rel)) as f:
        tree = ast.parse(f.read())
    for n in ast.walk(tree):
        if _call_name(n) in FRESH_CALLS and any(
                isinstance(a, ast.Attribute) and a.attr == attr for a in n.args):
            return True
        if isinstance(n, ast.Assign) and "_AGE_CAP_MS" in ast.unparse(n.value):
            for t in n.targets:
                t = t.value if isinstance(t, ast.Subscript) else t
                if isinstance(t, ast.Attribute) and t.attr == attr:
                    return True
    return False


def test_every_stored_tick_is_listed_with_how_it_stays_comparable():
    found = scan()
    unlisted = ["%s (line %d)" % (k, found[k]) for k in sorted(found) if k not in STORED]
    assert not unlisted, (
        "stored ticks with no plan for the 2**29 ms limit: %s. Keep each comparable "
        "(firmware/core/ticks.py) and add it to STORED with how" % unlisted)
    gone = sorted(k for k in STORED if k not in found)
    assert not gone, "STORED lists ticks no longer stored (drop them): %s" % gone
    assert all(STORED[k][0] in KINDS for k in STORED), "kinds: %s" % (KINDS,)


def test_fresh_entries_really_are_refreshed():
    missing = [k for k, (kind, _) in sorted(STORED.items())
               if kind == "fresh" and not _refreshed(*k.split(":")[0:1],
                                                     k.split(".")[-1].rstrip("[]"))]
    assert not missing, "listed as fresh but never passed through fresh(): %s" % missing


def test_the_scan_sees_a_new_stored_tick(tmp_path):
    # The lint itself must catch the ways a tick gets stored.
    src = tmp_path / "x.py"
    src.write_text(
        "class A:\n"
        "    def f(self, clock, p):\n"
        "        now = clock.ticks_ms()\n"
        "        t = now\n"
        "        self.a = t\n"
        "        self.b[p] = clock.ticks_add(now, 5)\n"
        "        self.c.append([1, now])\n"
        "        self.d = self.e = now\n"
        "    def g(self, now):\n"
        "        self.f = [now] * 3\n"
        "        self.ok = 5\n")
    keys = {k.split(":")[1] for k in scan([str(src)])}
    assert keys == {"A.a", "A.b", "A.c", "A.d", "A.e", "A.f"}
