# The docs that are derived from the code stay in step with it: the config key table
# (tools/config_doc.py), the wiring diagram and pin table (DEFAULT_PINS), and the staff
# guide's coverage of every alarm code and end reason (firmware/core/codes.py).
import os
import re

from firmware.core import codes
from firmware.system import config as config_mod
from tools import codes_doc, config_doc, wiring_diagram

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")


def _read(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


def test_every_config_key_is_explained():
    assert config_doc.missing() == [], (
        "explain these keys in tools/config_doc.py WHY (or drop keys gone from SCHEMA)")


def test_configuration_table_is_up_to_date():
    doc = _read("configuration.md")
    assert config_doc.render(doc) == doc, "run: .venv/bin/python -m tools.config_doc --write"
    for key in config_mod.SCHEMA:
        assert "| `%s` |" % key in doc, key


def test_wiring_diagram_is_up_to_date():
    assert wiring_diagram.draw() == _read("wiring.svg"), (
        "run: .venv/bin/python -m tools.wiring_diagram --png docs/wiring.png")


def _pin_text(v):
    if v is None:
        return "none"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def test_wiring_pin_table_matches_default_pins():
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", _read("wiring.md"), re.M))
    assert set(rows) == set(config_mod.DEFAULT_PINS)
    for name, v in config_mod.DEFAULT_PINS.items():
        assert rows[name].strip() == _pin_text(v), name


def test_operations_guide_covers_every_alarm_and_reason():
    doc = _read("operations.md")
    alarm_part, _, reason_part = doc.partition("## Why a session ended")
    for code in codes.ALARMS:
        assert re.search(r"^\| `%s` \|" % code, alarm_part, re.M), "alarm %s" % code
    for reason in codes.REASONS:
        assert re.search(r"^\| `%s` \|" % reason, reason_part, re.M), "reason %s" % reason


def test_code_enums_and_tables_are_up_to_date():
    assert codes_doc.main(["--check"]) == 0, "run: .venv/bin/python -m tools.codes_doc --write"
