"""Mutation pass: each deliberate break below must make the tests named for it fail.

    .venv/bin/python tools/mutants.py [--only NAME ...] [--list] [--markdown]

For each mutation: the tree is copied once to a scratch directory (the working tree is
never touched), the file's exact snippet is replaced, only the named tests run there
(pytest, CPython; the scenario tests drive the MicroPython unix port themselves), the
result is recorded (caught: a named test failed; survived: all passed), and the file is
restored before the next one. First the named tests must all pass on the unbroken copy,
or nothing would be proved. A snippet that is not in its file exactly once fails loudly
("no longer applies: update the table"). Prints a table; exits 1 when any mutation
survived or could not be applied, 0 when every one was caught.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T_ORDER = "host_tests/core/test_safety_order.py::"
T_JUDGE = "host_tests/core/test_judge.py::"
T_PERSIST = "host_tests/store/test_persist.py::"
T_SCEN = "host_tests/sim/test_control_scenarios.py::"
T_DOOR = "host_tests/core/test_door.py::"
T_PARTS = "host_tests/protocol/test_protocol_parts.py::"

# (name, file, original snippet, replacement, named tests, why it matters)
MUTATIONS = [
    ("hold-until-not-refreshed", "firmware/core/app.py",
     "        self.hold_until = fresh(clock, now, self.hold_until)\n",
     "        pass\n",
     ["host_tests/core/test_stored_ticks.py::test_fresh_entries_really_are_refreshed",
      "host_tests/system/test_month_uptime.py"],
     "after 6.2 days of uptime the boot hold looks ahead again: no relay closes for 6.2 days"),
    ("power-on-counted-as-crash", "main.py",
     "                          crashed=cause not in _NOT_CRASHES,\n",
     "                          crashed=True,\n",
     ["host_tests/system/test_main_net_boot.py::test_a_burst_of_power_ups_is_not_a_crash_loop"],
     "a recloser's burst of power-ups puts the cabinet in safe mode"),
    ("overrides-lost-at-boot", "firmware/system/assemble.py",
     "    cfg, more = load_overrides(state_dir, cfg)  # what `config` commands changed since\n",
     "    more = []\n",
     ["host_tests/system/test_assembly.py::test_a_config_override_survives_a_simulated_reboot",
      "host_tests/system/test_assembly.py::test_the_overrides_are_read_at_every_boot_not_only_the_first"],
     "a `config` command is forgotten at the next reboot or power cut"),
    ("ntc-saturation-read-as-cold", "drivers/ntc.py",
     "        if uv >= self.rail_high_uv:\n"
     "            self.ohms = None\n"
     "            return None, high\n",
     "",
     ["host_tests/drivers/test_ntc.py::test_saturated_cold_reading_is_a_fault_not_a_temperature",
      "host_tests/drivers/test_ntc.py::test_open_and_short_are_faults_not_temperatures"],
     "an open NTC reads about -26 C: cabinet over-temperature protection goes blind"),
    ("trip-no-relay-off", "firmware/core/port.py",
     "        cab.relays.set(self.p, False)  # fail safe first, whatever the bookkeeping says\n",
     "        pass\n",
     [T_ORDER + "test_overcurrent_trip_opens_the_relay_before_any_flash_write",
      T_ORDER + "test_overpower_trip_opens_the_relay_before_any_flash_write"],
     "a trip writes flash (alarm, journal) before the relay opens: a short stays fed"),
    ("unplug-no-window-average", "firmware/core/judge.py",
     "                and self._window_quiet(energy_mwh)):\n"
     "            return codes.UNPLUGGED\n",
     "                ):\n"
     "            return codes.UNPLUGGED\n",
     [T_JUDGE + "test_idle_charger_with_bursts_averaging_above_unplug_w_is_never_unplugged"],
     "an idle charger with bursts (battery still on) ends `unplugged`"),
    ("no-full-hysteresis", "firmware/core/judge.py",
     "self.recharge_mw = self.full_mw * 5 // 4",
     "self.recharge_mw = self.full_mw",
     [T_JUDGE + "test_noise_around_full_w_does_not_restart_the_below_full_stretch"],
     "noise around full_w restarts the below-full stretch: never judged full"),
    ("restore-no-requeue", "firmware/store/persist.py",
     "                self.outbox.put(kind, payload)  # may already be queued: same id\n",
     "                pass\n",
     [T_PERSIST + "test_pending_record_cut_between_journal_save_and_outbox_put_is_queued_again",
      T_PERSIST + "test_restore_queues_a_journaled_pending_record_again"],
     "a cut between journal save and outbox put loses the session record"),
    ("outbox-before-journal", "firmware/store/persist.py",
     "        self.save(port)  # durable as pending first ...\n"
     "        self.outbox.put(kind, payload)  # ... then queued; the port's next save drops it\n",
     "        self.outbox.put(kind, payload)  # ... then queued; the port's next save drops it\n"
     "        self.save(port)  # durable as pending first ...\n",
     [T_PERSIST + "test_a_cut_before_every_flash_write_loses_and_doubles_nothing",
      "host_tests/store/test_power_cut_campaign.py::"
      "test_sigkill_campaign_loses_and_doubles_nothing"],
     "a cut after the put: a start with no session, or an end record sent twice"),
    ("restore-drops-lock", "firmware/core/port.py",
     "        if lock:\n            self.state = codes.LOCKED\n",
     "        if False:\n            self.state = codes.LOCKED\n",
     [T_PERSIST + "test_a_port_locked_by_a_trip_stays_locked_across_a_power_cut"],
     "a shorted port comes back unlocked after a power cut and closes again"),
    ("meter-silent-no-relay-off", "firmware/core/port.py",
     "        cab.relays.set(p, False)\n        cab.raise_alarm(code, p,",
     "        cab.raise_alarm(code, p,",
     [T_ORDER + "test_silent_meter_opens_the_relay_before_any_flash_write"],
     "a port whose meter is silent keeps charging unmeasured while flash is written"),
    ("meter-silent-ignored", "firmware/core/app.py",
     "            elif m.silent(p):\n",
     "            elif False and m.silent(p):\n",
     [T_SCEN + "test_silent_meter_ends_session_meter_fault_and_recovers"],
     "a dead meter: the port charges blind, no protection runs on it"),
    ("overcurrent-threshold", "firmware/core/protection.py",
     "if ma > self.limit_ma and live:",
     "if ma > self.limit_ma + 2000 and live:",
     [T_SCEN + "test_heater_1500w_trips_overcurrent_at_once"],
     "a 1500 W heater (6.8 A) is not tripped at once on the 5.5 A port limit"),
    # Smoke and a hot cabinet share App._stop_all: one relay-off loop guards both.
    ("cabinet-stop-no-relay-off", "firmware/core/app.py",
     "            self.relays.set(p, False)  # every relay off at once, then the bookkeeping\n",
     "            pass\n",
     [T_ORDER + "test_smoke_opens_every_relay_before_any_flash_write",
      T_ORDER + "test_cabinet_overtemp_opens_every_relay_before_any_flash_write"],
     "smoke or a hot cabinet: relays open one by one after the alarm and journal writes"),
    ("cabinet-hot-stops-nothing", "firmware/core/protection.py",
     "            return (codes.OVERTEMP, code, c10 / 10)\n",
     "            return None\n",
     [T_ORDER + "test_cabinet_overtemp_opens_every_relay_before_any_flash_write"],
     "cabinet over temperature: chargers go on heating a cabinet at cabinet_stop_c"),
    ("estop-no-relay-off", "firmware/core/app.py",
     "        for p in range(self.n):\n            self.relays.set(p, False)\n"
     "        for p in range(self.n):\n            self.ports[p].end(codes.ESTOP)\n",
     "        for p in range(self.n):\n            self.ports[p].end(codes.ESTOP)\n",
     [T_ORDER + "test_estop_opens_every_relay_before_any_flash_write"],
     "emergency stop: each relay waits for the previous port's flash writes"),
    ("overpower-hold-not-restarted", "firmware/core/protection.py",
     "            else:\n                g.over_since = NOT_OVER\n",
     "            else:\n                pass\n",
     ["host_tests/core/test_port.py::"
      "test_overpower_trips_after_the_hold_and_a_dip_restarts_the_hold"],
     "short surges add up across dips: a charger's start-up peaks trip it as over-power"),
    ("overpower-hold-never-starts", "firmware/core/protection.py",
     "                if g.over_since == NOT_OVER:\n                    g.over_since = now\n",
     "                if g.over_since == NOT_OVER:\n                    pass\n",
     [T_SCEN + "test_overload_stops_overpower_after_hold",
      T_ORDER + "test_overpower_trip_opens_the_relay_before_any_flash_write"],
     "a port over its power limit (but under the current limit) is never stopped"),
    ("weld-never-detected", "firmware/core/protection.py",
     "if g.weld_hits == _WELD_HITS:",
     "if g.weld_hits == _WELD_HITS + 1000000:",
     [T_SCEN + "test_welded_relay_raises_alarm_and_locks"],
     "a welded relay feeds the port with no alarm and the port stays in use"),
    ("outbox-replaces-own-id", "firmware/store/outbox.py",
     '        if "id" not in payload:\n            payload["id"] = rid\n',
     '        if True:\n            payload["id"] = rid\n',
     ["host_tests/store/test_outbox.py::test_payload_bytes_are_compact_json_and_an_own_id_is_kept",
      T_PERSIST + "test_a_cut_before_every_flash_write_loses_and_doubles_nothing"],
     "a re-queued record gets a new id: the server cannot de-duplicate it"),
    ("store-writes-in-place", "firmware/store/store.py",
     '    tmp = _path(d, name, "tmp")\n',
     '    tmp = _path(d, name, target)\n',
     ["host_tests/store/test_store.py::test_power_cut_at_every_step_leaves_the_last_or_the_new_copy"],
     "a cut mid-write tears the slot being overwritten"),
    ("link-long-socket-wait", "firmware/link/slicesock.py",
     "self.poller.ipoll(link.slice_ms)",
     "self.poller.ipoll(link.slice_ms * 20)",
     ["host_tests/link/test_uplink_mqtt.py::test_misbehaving_broker_only_costs_slices[silent]"],
     "a silent broker holds the control loop 200 ms per socket wait"),
    ("link-idle-rarely", "firmware/link/uplink.py",
     '"idle_ms": 10,',
     '"idle_ms": 200,',
     ["host_tests/link/test_uplink_mqtt.py::test_misbehaving_broker_only_costs_slices[stall]"],
     "the control tick runs only every 200 ms while the link works"),
    ("feeder-never-sheds", "firmware/core/feeder.py",
     "                    app.ports[newest].pause(now)\n",
     "                    pass\n",
     ["host_tests/core/test_feeder.py::"
      "test_overload_pauses_the_newest_then_resumes_it_when_there_is_room"],
     "chargers together overload the cabinet feeder and nothing is paused: its breaker trips"),
    ("no-checkpoint", "firmware/store/persist.py",
     "and j.due(port.p, now, True):",
     "and False:",
     [T_SCEN + "test_session_resumes_after_a_ten_minute_power_cut_with_the_right_charge_s"],
     "a cut loses all charge time and energy since the session's last state change"),
    ("bl0942-checksum-ignored", "drivers/bl0942.py",
     "    if checksum(cmd, buf, o) != buf[o + 22]:\n",
     "    if False:\n",
     ["host_tests/meters/test_bl0942.py::test_every_corrupted_byte_is_refused",
      "host_tests/meters/test_bl0942.py::test_scanner_two_uarts_and_corrupted_replies_are_counted"],
     "a BL0942 reply corrupted on the wire reads as a real load: false trips or missed ones"),
    ("bl0942-no-request", "drivers/meterscan.py",
     "                uart.write(self._request)",
     "                pass",
     ["host_tests/meters/test_bl0942.py::test_scanner_sweeps_ten_bl0942_with_silent_and_garbage_ports"],
     "the scanner never asks: every BL0942 port goes silent and fails safe"),
    ("door-never-raised", "firmware/core/door.py",
     "        if self.clock.ticks_diff(now, self.opened_ms) >= limit_ms:\n",
     "        if False:\n",
     [T_DOOR + "test_raised_after_door_open_s_not_before_and_cleared_when_closed",
      T_DOOR + "test_door_events_raise_and_clear_the_alarm_in_a_simulated_cabinet"],
     "a cabinet door left open or forced is never reported"),
    ("door-open-s-not-live", "firmware/core/door.py",
     '        limit_ms = int(self.cfg["door_open_s"] * 1000)\n',
     "        limit_ms = 120000\n",
     [T_DOOR + "test_door_open_s_applies_live"],
     "a `config` command's door_open_s is acknowledged but ignored until a reboot"),
    ("gate-skips-replay", "firmware/protocol/gate.py",
     "        if err is not None:\n            return None, jti, err\n",
     "",
     [T_PARTS + "test_gate_refuses_before_any_claim_is_read",
      "host_tests/protocol/test_cloud_props.py::test_hostile_commands_get_their_code_one_reply_and_change_nothing"],
     "a captured command (a start, an unlock) can be replayed"),
    ("live-flag-ignored", "firmware/protocol/settings.py",
     "        if config_mod.live(k):\n",
     "        if False:\n",
     [T_PARTS + "test_settings_apply_live_keys_now_and_the_others_at_the_next_boot"],
     "a `config` command changes no threshold until a reboot"),
    ("stop-without-session", "firmware/protocol/commands.py",
     "        raise BadArgs()  # no session to stop\n",
     "        pass\n",
     [T_PARTS + "test_parsers_check_before_handlers_act"],
     "a `stop` on an idle port is acknowledged as if it had ended a session"),
]

_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", ".pytest_cache", ".ruff_cache",
                                 "__pycache__", "*.pyc")


class NoLongerApplies(Exception):
    pass


def apply(text, old, new, name, path):
    n = text.count(old)
    if n != 1:
        raise NoLongerApplies("%s: snippet found %d times in %s: no longer applies: update "
                              "the table in tools/mutants.py" % (name, n, path))
    return text.replace(old, new)


def scratch_copy():
    d = tempfile.mkdtemp(prefix="mutants-")
    tree = os.path.join(d, "tree")
    shutil.copytree(ROOT, tree, ignore=_IGNORE, symlinks=True)
    os.symlink(os.path.realpath(os.path.join(ROOT, ".venv")), os.path.join(tree, ".venv"))
    return d, tree


def run_tests(tree, tests, timeout_s):
    """(returncode, failed node ids, tail of the output)."""
    cmd = [os.path.join(tree, ".venv", "bin", "python"), "-m", "pytest", "-q", "-rf",
           "-p", "no:cacheprovider", "--tb=no"] + tests
    env = dict(os.environ)
    env.pop("FULL", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no stale .pyc of a mutated file, ever
    try:
        p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=timeout_s,
                           env=env)
    except subprocess.TimeoutExpired:
        return None, [], "timed out after %d s" % timeout_s
    out = p.stdout + p.stderr
    failed = re.findall(r"^FAILED (\S+)", out, re.M)
    return p.returncode, failed, out[-2000:]


def main(argv):
    ap = argparse.ArgumentParser(description="mutation pass: make mutants")
    ap.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per test run")
    args = ap.parse_args(argv)
    table = MUTATIONS
    if args.only:
        unknown = set(args.only) - {m[0] for m in MUTATIONS}
        if unknown:
            ap.error("unknown mutation(s): %s" % ", ".join(sorted(unknown)))
        table = [m for m in MUTATIONS if m[0] in args.only]
    if args.list:
        for name, path, _, _, tests, why in table:
            print("%-26s %-24s %s" % (name, path, why))
            for t in tests:
                print("%28s%s" % ("", t))
        return 0
    # Every snippet must apply before anything runs.
    problems = []
    for name, path, old, new, _, _ in table:
        with open(os.path.join(ROOT, path)) as f:
            try:
                apply(f.read(), old, new, name, path)
            except NoLongerApplies as e:
                problems.append(str(e))
    if problems:
        for p in problems:
            print("mutants: " + p, file=sys.stderr)
        return 1
    tmp, tree = scratch_copy()
    rows = []
    try:
        all_tests = sorted({t for m in table for t in m[4]})
        t0 = time.time()
        rc, failed, out = run_tests(tree, all_tests, args.timeout)
        if rc != 0:
            print("mutants: the named tests fail on the unbroken tree (rc %s): %s\n%s"
                  % (rc, failed, out), file=sys.stderr)
            return 1
        print("mutants: %d named tests pass on the unbroken copy (%.0f s)"
              % (len(all_tests), time.time() - t0), flush=True)
        for name, path, old, new, tests, why in table:
            target = os.path.join(tree, path)
            with open(target) as f:
                original = f.read()
            with open(target, "w") as f:
                f.write(apply(original, old, new, name, path))
            t0 = time.time()
            try:
                rc, failed, out = run_tests(tree, tests, args.timeout)
            finally:
                with open(target, "w") as f:
                    f.write(original)
            if rc == 1 and failed:
                result = "caught"
            elif rc == 0:
                result = "SURVIVED"
            else:
                result = "ERROR rc=%s" % rc
                print(out, file=sys.stderr)
            rows.append((name, path, result, failed, why, time.time() - t0))
            print("%-26s %-9s %5.1f s  %s" % (name, result, rows[-1][5],
                                            ", ".join(t.split("::")[-1] for t in failed)),
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    if args.markdown:
        print("| mutation | what it would break | caught by (host_tests/) | result |")
        print("|---|---|---|---|")
        for name, path, result, failed, why, _ in rows:
            print("| `%s` (%s) | %s | %s | %s |" % (
                name, path.split("/")[-1], why,
                "<br>".join("`%s`" % t.replace("host_tests/", "") for t in failed) or "-",
                result))
    else:
        for name, path, result, failed, _why, _ in rows:
            print("%-26s %-24s %-9s %s" % (name, path, result,
                                           "; ".join(t.split("::")[-1] for t in failed)))
    bad = [r for r in rows if r[2] != "caught"]
    print("\nmutants: %d of %d caught" % (len(rows) - len(bad), len(rows)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
