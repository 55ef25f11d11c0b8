"""One assembly (firmware/system/assemble.py) for every runner of the firmware.

- The simulated day (tools/sim/run.py's Sim), at its first boot, after a power cut and
  after a `reboot` command, builds its firmware through assemble.build and runs the
  Cabinet it returns (app, cloud and panel are that Cabinet's).
- The split day's device VM (tools/sim/devicevm.py) builds through the same assembly: its
  firmware process has loaded firmware.system.assemble, and the day's records are the
  one-VM simulator's.
- A `config` command's override survives a simulated reboot, as on the device: a key
  that takes effect at the next boot (boot_hold_s) is in force after the reboot, and a
  live one (max_session_s) stays in force.
- main.py builds through it too (host_tests/test_main_on_unix_port.py runs main.build).
"""

import tempfile

import pytest
import scenario as scenario_mod
import splitday
from run import Sim

from firmware.system import assemble

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


class _Null:
    def write(self, s):
        pass


class _Events:
    def __init__(self):
        self.got = []

    def write(self, s):
        if s.startswith("{"):
            import json

            self.got.append(json.loads(s))


def _scenario(events, duration_s=120, ports=2):
    return scenario_mod.load({"cabinet": {"ports": ports, "config": {"cmd_key": KEY}},
                              "duration_s": duration_s, "events": events})


@pytest.fixture
def builds(monkeypatch):
    """Every Cabinet assemble.build returns, in order."""
    made = []
    real = assemble.build

    def counting(*args, **kwargs):
        cab = real(*args, **kwargs)
        made.append(cab)
        return cab

    monkeypatch.setattr(assemble, "build", counting)
    return made


def test_the_simulator_boots_through_the_assembly_every_time(builds):
    sc = _scenario([
        {"t": 5, "power_cut": {"duration_s": 3}},
        {"t": 20, "cmd": {"op": "reboot"}},
    ], duration_s=40)
    sim = Sim(sc, _Null())
    try:
        assert len(builds) == 1 and sim.cabinet is builds[0]
        sim.run()
        assert len(builds) == 3, "first boot, power cut, reboot command: three boots"
        cab = builds[-1]
        assert isinstance(cab, assemble.Cabinet) and sim.cabinet is cab
        assert sim.app is cab.app and sim.panel is cab.panel and sim.outbox is cab.outbox
        assert sim.wall is cab.wall and not cab.safe
        assert cab.panel.cloud is cab.cloud  # the panel's card auth is this boot's cloud
        assert sim.log.counts.get("reboot") == 1
    finally:
        sim.close()


def test_a_config_override_survives_a_simulated_reboot():
    out = _Events()
    sc = _scenario([
        {"t": 5, "cmd": {"op": "config", "config": {"boot_hold_s": 3, "max_session_s": 1234}}},
        {"t": 10, "cmd": {"op": "reboot"}},
        {"t": 10.5, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        {"t": 11, "cmd": {"op": "start", "port": 0, "limit": {"full": True}}},
    ], duration_s=30)
    sim = Sim(sc, out)
    try:
        assert sim.app.cfg["boot_hold_s"] == 10  # the default, before the command
        sim.run()
        replies = [e for e in out.got if e["ev"] == "reply"]
        assert replies[0]["ok"] and replies[0].get("restart") == ["boot_hold_s"], replies
        reboot = [e["t"] for e in out.got if e["ev"] == "reboot"]
        assert len(reboot) == 1 and 10 <= reboot[0] < 11
        cfg = sim.app.cfg
        assert cfg["boot_hold_s"] == 3 and cfg["max_session_s"] == 1234
        # In force, not only in the dict: the relay closes after a 3 s boot hold, not 10 s.
        on = [e["t"] for e in out.got if e["ev"] == "relay" and e.get("on")]
        assert on and on[0] - reboot[0] < 5, (reboot, on)
    finally:
        sim.close()


def test_the_overrides_are_read_at_every_boot_not_only_the_first():
    sc = _scenario([
        {"t": 5, "cmd": {"op": "config", "config": {"boot_hold_s": 4}}},
        {"t": 8, "power_cut": {"duration_s": 2}},
    ], duration_s=20)
    sim = Sim(sc, _Null())
    try:
        sim.run()
        assert sim.app.cfg["boot_hold_s"] == 4
    finally:
        sim.close()


@pytest.fixture(scope="module")
def tree():
    return splitday.build_tree(tempfile.mkdtemp(prefix="devicevm-asm-"))


def test_the_split_day_and_the_device_vm_boot_through_the_assembly(tree, builds):
    ev = [
        {"t": 10, "port": 0, "plug": {"model": "lithium_48v_4a", "soc": 0.3}},
        {"t": 12, "cmd": {"op": "config", "config": {"boot_hold_s": 2}}},
        {"t": 15, "cmd": {"op": "start", "port": 0, "limit": {"minutes": 3}}},
        {"t": 100, "power_cut": {"duration_s": 5}},
    ]
    sc = scenario_mod.load({"cabinet": {"ports": 2, "config": {"cmd_key": KEY}},
                            "duration_s": 400, "events": ev})
    summary, counts, records = splitday.run_split(sc, tree)
    assert builds == []  # the world side (CPython) builds no firmware: the VM does
    assert "firmware.system.assemble" in summary["modules"], summary["modules"]
    assert counts.get("session_end") == 1
