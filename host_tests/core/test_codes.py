# The one catalogue of codes (firmware/core/codes.py): the contract's strings exact, the
# derived tuples taken from the rows, and every consumer (schemas, docs, monitor) in step.
import json
import os
import re

from firmware.core import codes
from tools import codes_doc
from tools.monitor import app as monitor_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTOCOL = "/work/shared/design/PROTOCOL.md"
# Contract alarms this firmware does not raise (no mains sensing, no plug identity).
NOT_BUILT = {"plug_swap", "mains_voltage"}


def _contract():
    with open(PROTOCOL, encoding="utf-8") as f:
        text = f.read()
    reasons = text.split("`reason` is one of:")[1].split("\n\n")[0]
    alarms = text.split("Codes at least:")[1].split("\n\n")[0]
    return re.findall(r"`(\w+)`", reasons), re.findall(r"`(\w+)`", alarms)


def test_contract_codes_are_in_the_catalogue_exactly():
    reasons, alarms = _contract()
    assert reasons == list(codes.REASONS)  # same strings, same order
    assert set(alarms) - NOT_BUILT <= set(codes.ALARMS)
    assert "door_open" in alarms and codes.level("door_open") == codes.WARNING


def test_rows_are_well_formed_and_unique_per_kind():
    levels = {codes.REASON: (codes.INFO, codes.WARNING, codes.CRITICAL, codes.LOCK),
              codes.ALARM: (codes.WARNING, codes.CRITICAL)}
    seen = set()
    for code, kind, level, text in codes.CATALOGUE:
        assert re.fullmatch(r"[a-z_]+", code) and level in levels[kind] and text, code
        assert (code, kind) not in seen, code
        seen.add((code, kind))
    assert codes.A_SAFE_MODE in codes.ALARMS


def test_derived_tuples_come_from_the_rows():
    assert codes.SAFETY_STOPS == ("overpower", "overcurrent", "overtemp", "smoke",
                                  "relay_fault")
    assert codes.ALERT_REASONS == codes.SAFETY_STOPS + ("estop",)
    assert monitor_app.SAFETY_REASONS == codes.ALERT_REASONS
    assert codes.level("estop", codes.REASON) == codes.CRITICAL
    assert codes.level("nope") is None


def test_schemas_and_doc_follow_the_catalogue():
    assert codes_doc.stale() == {}
    with open(os.path.join(ROOT, "docs", "schemas", "alarm.json"), encoding="utf-8") as f:
        assert json.load(f)["properties"]["code"]["enum"] == list(codes.ALARMS)
    with open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8") as f:
        doc = f.read()
    for code, _, level, _ in codes.CATALOGUE:
        assert "| `%s` | %s |" % (code, level) in doc, code


def test_check_fails_on_a_stale_schema(tmp_path, monkeypatch):
    for name in os.listdir(codes_doc.SCHEMAS):
        with open(os.path.join(codes_doc.SCHEMAS, name), encoding="utf-8") as f:
            (tmp_path / name).write_text(f.read(), encoding="utf-8")
    monkeypatch.setattr(codes_doc, "SCHEMAS", str(tmp_path))
    monkeypatch.setattr(codes, "ALARMS", codes.ALARMS + ("new_alarm",))
    monkeypatch.setitem(codes_doc.ENUMS, ("alarm.json", "code"), codes.ALARMS)
    assert codes_doc.main(["--check"]) == 1
    assert codes_doc.main(["--write"]) == 0
    assert "new_alarm" in (tmp_path / "alarm.json").read_text(encoding="utf-8")
    assert codes_doc.main(["--check"]) == 0
