import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The shared helpers live in two kit folders every subject folder imports from by bare
# name: kit/ (CPython only: mpy, mqttkit, hubkit, simrun, schemas, the cpython_shims) and
# dualkit/ (also loaded on the MicroPython unix port: the dual runner, flashdir, jsonlines,
# hlw_sim, ui_scenes, scenkit). Subject folders hold no __init__.py: pytest puts each test
# file's own folder on sys.path, so a test's device/ scripts and siblings resolve too.
KIT = os.path.join(HERE, "kit")
DUALKIT = os.path.join(HERE, "dualkit")
for p in (os.path.join(KIT, "cpython_shims"), os.path.join(ROOT, "lib"), ROOT,
          os.path.join(ROOT, "tools", "sim"), DUALKIT, KIT):
    if p not in sys.path:
        sys.path.insert(0, p)
# pytest has put host_tests itself on sys.path to load this file (`from conftest import
# FULL` relies on it); ROOT now comes before it, so a subject folder named like a top-level
# package (drivers, tools) never shadows that package.

FULL = bool(os.environ.get("FULL"))


# ------------------------------------------------------------------ one broker, one free port
# Every test that needs a real MQTT broker takes this fixture: mosquitto on a free loopback
# port (kit/mqttkit.py Mosquitto; fails, never skips, when mosquitto is missing). Tests that
# need TLS or on-disk persistence build their own Mosquitto(tmp, tls=..., persist=True).
@pytest.fixture
def broker(tmp_path):
    from mqttkit import Mosquitto

    b = Mosquitto(str(tmp_path))
    yield b
    b.stop()
