# make deploy (tools/deploy.py): refuses without a deployable config, DRY_RUN=1 lists every
# action and runs none, and the code it sends to the board runs on MicroPython.
import glob
import json
import os
import subprocess

import pytest
from mpy import run_mpy

from firmware.system import config as config_mod
from tools import deploy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "5f" * 32  # not the simulator's published test key


def _make(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "CONFIG", "DRY_RUN")}
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, "deploy", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def _config(tmp_path, **over):
    raw = {"cabinet_id": "cab-007", "cmd_key": KEY, "ports": 10}
    raw.update(over)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return str(path)


def _tree(d):
    return sorted(glob.glob("**", root_dir=d, recursive=True)) if os.path.isdir(d) else None


def test_dry_run_lists_every_action_and_runs_none(tmp_path):
    cfg = _config(tmp_path)
    before = _tree(os.path.join(ROOT, deploy.BUILD))
    p = _make("DRY_RUN=1", "PORT=/dev/null", "CONFIG=" + cfg)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "cabinet cab-007, 10 ports -> /dev/null (dry run" in out
    # Every device module is compiled to .mpy under build/deploy ...
    sources = (sorted(glob.glob("firmware/**/*.py", root_dir=ROOT, recursive=True))
               + sorted(glob.glob("drivers/*.py", root_dir=ROOT))
               + ["lib/" + m for m in deploy.LIB_MODULES])
    for src in sources:
        assert "mpy-cross -o build/deploy/%s.mpy %s\n" % (src[:-3], src) in out, src
    # ... and the board is driven by mpremote: one soft reset (the hold), then `resume`.
    board = [line for line in out.splitlines() if "mpremote connect /dev/null" in line]
    assert board[0].endswith("mpremote connect /dev/null exec 'import machine, sys")
    assert all(" /dev/null resume " in line for line in board[1:]), board
    for mpy in ("firmware/core/app.mpy", "drivers/cabinet.mpy", "lib/ssd1306.mpy",
                "lib/glyphs_zh.mpy", "lib/umqtt/simple.mpy"):
        assert any("fs cp " in line and "build/deploy/" + mpy in line for line in board), mpy
    assert any(line.endswith("fs cp %s :config.json" % cfg) for line in board)
    assert any(line.endswith("fs cp boot.py :boot.py") for line in board)
    assert any(line.endswith("fs cp main.py :main.py") for line in board)
    assert "bootguard.mark_stable" in out
    assert board[-1].endswith("resume reset")
    # Nothing ran: build/deploy is as it was.
    assert _tree(os.path.join(ROOT, deploy.BUILD)) == before


def test_refuses_without_a_config(tmp_path):
    missing = str(tmp_path / "nowhere" / "config.json")
    p = _make("DRY_RUN=1", "PORT=/dev/null", "CONFIG=" + missing)
    assert p.returncode != 0
    assert "no config file at %s" % missing in p.stderr
    assert "python -m tools.provision" in p.stderr and "CONFIG=" in p.stderr
    assert "mpremote" not in p.stdout and "mpy-cross" not in p.stdout


@pytest.mark.skipif(os.path.exists(os.path.join(ROOT, "config.json")),
                    reason="a config.json is in the work tree")
def test_default_config_path_is_named():
    p = _make("DRY_RUN=1", "PORT=/dev/null")
    assert p.returncode != 0
    assert "no config file at config.json" in p.stderr


def test_refuses_a_config_with_problems_naming_them(tmp_path):
    cfg = _config(tmp_path, ports=40, full_w="thirty", colour="red")
    p = _make("DRY_RUN=1", "PORT=/dev/null", "CONFIG=" + cfg)
    assert p.returncode != 0
    assert "3 problem(s)" in p.stderr
    for name in ("ports: 40", "full_w: 'thirty'", "colour: unknown key"):
        assert name in p.stderr, name
    assert "mpremote" not in p.stdout


def test_refuses_the_simulators_test_key_and_bad_json(tmp_path):
    p = _make("DRY_RUN=1", "PORT=/dev/null",
              "CONFIG=" + _config(tmp_path, cmd_key=config_mod.TEST_KEY))
    assert p.returncode != 0 and "cmd_key" in p.stderr and "test key" in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"ports": 10,')
    p = _make("DRY_RUN=1", "PORT=/dev/null", "CONFIG=" + str(bad))
    assert p.returncode != 0 and "is not valid JSON" in p.stderr


def test_refuses_without_a_port(tmp_path):
    p = _make("DRY_RUN=1", "CONFIG=" + _config(tmp_path))
    assert p.returncode != 0 and "PORT=/dev/ttyUSB0" in p.stderr


def _board_code(tmp_path, version=(6, 3)):
    steps = deploy.plan("/dev/null", _config(tmp_path), "mpy-cross", "mpremote", version)
    return [argv[-1] for _, argv in steps if argv and argv[-2] == "exec"]


def test_board_code_runs_on_micropython(tmp_path):
    hold, prepare, stable = _board_code(tmp_path)
    flash = tmp_path / "flash"
    for d, names in (("firmware", ("app.py", "app.mpy")), ("lib", ("ssd1306.py", "x.mpy")),
                     ("state", ("port0.a",))):
        (flash / d).mkdir(parents=True)
        for n in names:
            (flash / d / n).write_text("x")
    # The hold: the version check passes on this VM (same mpy v6.3), and the watchdog is
    # fed from a timer (stand-ins for machine.WDT and machine.Timer record the calls).
    out = run_mpy(r'''
import os, sys
class WDT:
    def __init__(self, timeout):
        print("wdt", timeout)
    def feed(self):
        print("fed")
class Timer:
    def __init__(self, n):
        pass
    def init(self, period, callback):
        print("timer", period)
        callback(self)
class M:
    pass
m = M()
m.WDT = WDT
m.Timer = Timer
sys.modules["machine"] = m
exec(%r)
os.chdir(%r)
exec(%r)
print(sorted(os.listdir("firmware")), sorted(os.listdir("lib")), os.listdir("lib/umqtt"),
      sorted(os.listdir("state")))
exec(%r)
from firmware.system import bootguard
print("unstable", bootguard.note_boot("state"))
''' % (hold, str(flash), prepare, stable))
    assert "wdt %d\ntimer 1000\nfed\n" % deploy.WDT_HOLD_MS in out
    # .py sources that would shadow the new .mpy are gone; state/ is untouched ...
    layers = "'core', 'link', 'panel', 'protocol', 'store', 'system'"
    assert "['app.mpy', %s] ['umqtt', 'x.mpy'] [] ['port0.a']" % layers in out
    # ... and the boot-loop counter restarts: this boot is the first unstable one.
    assert "unstable 1" in out


def test_hold_refuses_a_board_with_another_mpy_version(tmp_path):
    hold = _board_code(tmp_path, version=(6, 2))[0]
    with pytest.raises(AssertionError, match="loads mpy v6.3, the deploy makes v6.2"):
        run_mpy(hold)
