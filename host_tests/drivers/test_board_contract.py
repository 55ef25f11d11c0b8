"""The board contract (drivers/board.py): every board provides every part, null parts
behave, and no firmware or driver code probes a board with getattr/hasattr.

Boards: the real one (drivers/cabinet.py build() on the fake machine), the simulator's
VirtualBoard (both meter fidelities), the device VM's wire board, the benches' boards.
"""

import os
import re

import machine
import pytest
from vclock import CLOCK

from drivers import board as contract
from drivers import cabinet
from firmware.system import config as config_mod

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLOCK_API = ("ticks_ms", "ticks_us", "ticks_diff", "ticks_add", "sleep_ms", "sleep_us",
             "time", "since2024_s", "epoch_set")
METER_API = ("mv", "ma", "mw", "energy_mwh", "frames", "seen_ms", "poll", "age_ms",
             "silent", "garbage")


def _real():
    cfg, problems = config_mod.validate({"ports": 10})
    assert not problems
    return cabinet.build(cfg, machine, None, CLOCK)


def _virtual_model():
    from board import VirtualBoard

    return VirtualBoard(4, fidelity="model")


def _virtual_bytes():
    from board import VirtualBoard

    return VirtualBoard(4, fidelity="bytes")


def _wire():
    import devicevm

    return devicevm.WireBoard(4, 3000)


def _bench():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
    import benchboard

    return benchboard.Board(4)


def _steady():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
    import steady

    return steady.SteadyBoard(4)


BOARDS = {"real": _real, "virtual_model": _virtual_model, "virtual_bytes": _virtual_bytes,
          "devicevm_wire": _wire, "bench": _bench, "bench_steady": _steady}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_provides_the_whole_contract(name):
    b = BOARDS[name]()
    assert isinstance(b, contract.Board)
    for part in contract.CONTRACT:
        assert getattr(b, part) is not None, "%s: %s" % (name, part)
    for f in CLOCK_API:
        assert hasattr(b.clock, f), "%s clock: %s" % (name, f)
    assert isinstance(b.meters, contract.Meters), name
    for f in METER_API:
        assert hasattr(b.meters, f), "%s meters: %s" % (name, f)
    for f in ("set", "get", "all_off"):
        assert hasattr(b.relays, f), "%s relays: %s" % (name, f)
    assert isinstance(b.sensors, contract.Sensors), name
    n = len(b.meters.frames)
    for p in range(n):
        assert b.sensors.port_c10(p) is None or isinstance(b.sensors.port_c10(p), int)
        assert b.meters.garbage(p) is False
    assert b.sensors.door_open() is False  # no door switch wired, or closed
    assert b.service_held() is False
    assert isinstance(b.problems, list)
    b.relays.all_off()
    assert not any(b.relays.get(i) for i in range(n))


def test_null_parts_answer_nothing_and_cost_nothing():
    assert contract.NO_READER.poll() is None and contract.NO_READER.healthy
    assert contract.NO_KEYPAD.scan() is None
    assert contract.NO_BUZZER.value(1) == 0
    assert contract.NO_DOOR.update() is False and contract.NO_DOOR.active is False
    for part in (contract.NO_READER, contract.NO_KEYPAD, contract.NO_DISPLAY,
                 contract.NO_BUZZER, contract.NO_DOOR):
        assert not contract.Board.fitted(part)
    b = contract.Board()
    assert (b.reader, b.keypad, b.display, b.buzzer) == (
        contract.NO_READER, contract.NO_KEYPAD, contract.NO_DISPLAY, contract.NO_BUZZER)
    s = contract.NoPortSensors()
    assert (s.cabinet_c10(), s.smoke(), s.port_c10(0), s.door_open()) == (250, False, None,
                                                                           False)


def test_a_real_board_without_a_door_pin_reads_the_door_closed():
    cfg, _ = config_mod.validate({"ports": 10, "pins": {"door": None}})
    b = cabinet.build(cfg, machine, None, CLOCK)
    assert b.sensors.door_in is contract.NO_DOOR and b.sensors.door_open() is False


def test_the_real_board_leaves_a_part_that_does_not_answer_null_and_says_so():
    b = _real()  # the fake machine has no keypad chip on the I2C bus here
    for part, word in ((b.reader, "card reader"), (b.keypad, "keypad"),
                       (b.display, "display")):
        named = [p for p in b.problems if p.startswith(word)]
        assert b.fitted(part) != bool(named), (word, b.problems)
    assert not b.fitted(b.keypad) and isinstance(b.keypad, contract.NoKeypad)
    assert b.fitted(b.reader) and b.fitted(b.buzzer)
    assert b.fitted(b.sensors.door_in)  # the reference pin map wires the door switch


def test_a_panel_on_null_parts_builds_no_screen_and_steps_quietly():
    from firmware.core.app import App
    from firmware.panel.panel import Panel

    cfg, _ = config_mod.validate({"ports": 4})
    b = _wire()

    class NoCloud:
        def request_auth(self, card, port):
            return None

        def card_ok(self, card):
            return False

    app = App(b, cfg, lambda ev: None)
    panel = Panel(app, b, cfg, NoCloud())
    assert panel.display is None and panel.beeper is None
    for _ in range(50):
        CLOCK.advance_ms(20)
        panel.step()
    assert panel.errors == 0


def test_the_panel_reads_card_uids_without_the_reader_driver():
    from drivers.mfrc522 import uid_hex as driver_hex
    from firmware.panel.panel import uid_hex

    uid = bytes([0x04, 0xA1, 0xB2, 0x0C])
    assert uid_hex(uid) == driver_hex(uid) == "04A1B20C"
    src = open(os.path.join(ROOT, "firmware", "panel", "panel.py")).read()
    assert "drivers" not in src.split("class Panel")[0].replace("drivers/board.py", "")


# getattr/hasattr left in device code, each for a reason that is not a board probe.
_ALLOWED = {
    "firmware/protocol/commands.py": "the command table (protocol helper)",
    "firmware/link/netif.py": "the network module's status codes differ between ports",
}


def test_no_device_code_probes_a_board():
    found = []
    for top in ("firmware", "drivers", "main.py", "tools/sim/run.py", "tools/sim/simlink.py",
                "tools/sim/board.py", "tools/sim/devicevm.py"):
        path = os.path.join(ROOT, top)
        files = [path] if path.endswith(".py") else [
            os.path.join(d, f) for d, _, names in os.walk(path) for f in names
            if f.endswith(".py")]
        for f in files:
            rel = os.path.relpath(f, ROOT)
            if rel in _ALLOWED:
                continue
            for i, line in enumerate(open(f), 1):
                if re.search(r"\b(getattr|hasattr)\(", line):
                    found.append("%s:%d: %s" % (rel, i, line.strip()))
    assert found == [], "\n".join(found)
