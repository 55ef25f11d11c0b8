"""Validate MQTT messages against docs/schemas/*.json (the protocol as built).

    from schemas import check, check_mqtt
    check("reply", {"jti": "a", "ok": True})
    check_mqtt("ebike/sim-001/event", b'{...}')   # picks the schema from the topic

Raises jsonschema.ValidationError naming the message and the rule it breaks.
"""

import glob
import json
import os

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(ROOT, "docs", "schemas")
SCHEMAS = {}
for _path in sorted(glob.glob(os.path.join(DIR, "*.json"))):
    with open(_path) as _f:
        _s = json.load(_f)
    jsonschema.Draft202012Validator.check_schema(_s)
    SCHEMAS[os.path.basename(_path)[:-5]] = jsonschema.Draft202012Validator(_s)
OUT_TOPICS = ("status", "telemetry", "event", "alarm", "auth", "reply")


def check(name, obj):
    """Validate obj against docs/schemas/<name>.json."""
    SCHEMAS[name].validate(obj)
    return obj


def schema_for(topic, obj):
    kind = topic.rsplit("/", 1)[-1]
    if kind == "event":
        return obj.get("ev") if isinstance(obj, dict) else "session_start"
    if kind == "cmd":
        return "cmd_%s" % obj.get("op")
    return kind


def check_mqtt(topic, payload):
    """Validate one MQTT message (payload bytes or str) by its topic; returns the object."""
    obj = json.loads(payload)
    name = schema_for(topic, obj)
    if name not in SCHEMAS:
        raise jsonschema.ValidationError("%s: no schema %r for %r" % (topic, name, obj))
    try:
        SCHEMAS[name].validate(obj)
    except jsonschema.ValidationError as e:
        e.message = "%s (%s): %s in %s" % (topic, name, e.message, obj)
        raise
    return obj
