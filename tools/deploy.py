"""Put the firmware and a cabinet's config on its ESP32 over USB serial (CPython host tool).

    make deploy PORT=/dev/ttyUSB0 [CONFIG=config.json] [DRY_RUN=1]
    .venv/bin/python -m tools.deploy --port /dev/ttyUSB0 [--config config.json] [--dry-run]

Refuses, before touching anything, when the config file is missing (it names the path and
the provisioning command), is not JSON, has a problem firmware.system.config.validate() reports,
or still carries the simulator's published command key. Then, in order:

1. compiles firmware/*.py, drivers/*.py and the lib modules (umqtt/simple.py, ssd1306.py,
   glyphs_zh.py) with mpy-cross into build/deploy/;
2. hold: connects with mpremote, whose soft reset stops the running firmware and runs
   boot.py (every relay off; main.py does not run), checks that the board loads this
   .mpy version, and keeps the hardware watchdog (which main.py started and nothing can
   stop) fed from a timer until the final reset;
3. removes .py sources in firmware/, drivers/ and lib/ on the board (a .py shadows the
   .mpy of the same name) and makes the folders; state/ is kept as it is;
4. copies lib, drivers and firmware (.mpy; unchanged files are skipped), then the config
   as config.json, boot.py and main.py (as source: MicroPython runs them by name);
5. clears the boot-loop counter (new code gets fresh tries; this also ends safe mode
   after a boot loop) and resets the board.

Every step after the first connection passes `resume`, so mpremote does not soft-reset
again (that would stop the watchdog feeder). DRY_RUN=1 prints every action, each mpremote
command line included, and runs none. Exit status: 0 done, 1 refused or a step failed,
2 bad arguments.
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from firmware.system import config as config_mod  # noqa: E402

BUILD = "build/deploy"
LIB_MODULES = ("umqtt/simple.py", "ssd1306.py", "glyphs_zh.py")  # under lib/ (make deps)
WDT_HOLD_MS = 30000  # the watchdog's timeout while the deploy holds the board
PROVISION = (".venv/bin/python -m tools.provision --cabinet CAB-001 --broker mqtt.example.com:8883 "
             "--user cab-001 --out cabinets/CAB-001")

_HOLD = '''import machine, sys
v = sys.implementation._mpy & 0x3FF
if v != {tag:#x}:
    raise ValueError("this MicroPython loads mpy v%d.%d, the deploy makes v{major}.{minor}"
                     % (v & 0xFF, v >> 8))
w = machine.WDT(timeout={wdt_ms})
t = machine.Timer(0)
t.init(period=1000, callback=lambda _: w.feed())'''

_PREPARE = '''import os
for d in ({make}):
    try:
        os.mkdir(d)
    except OSError:
        pass
for d in ({code}):
    for f in os.listdir(d):
        if f.endswith(".py"):
            os.remove(d + "/" + f)'''

_STABLE = 'from firmware.system import bootguard; bootguard.mark_stable("state")'


class Refused(Exception):
    pass


def _tool(name):
    """The tool from this Python's environment (.venv/bin), else from PATH."""
    here = os.path.dirname(sys.executable)
    found = shutil.which(name, path=here) or shutil.which(name)
    if found is None:
        raise Refused("%s not found: run `make setup`" % name)
    return _from_root(found)


def check_config(path):
    """The config's parsed JSON, or Refused naming every reason it may not be deployed."""
    if not os.path.isfile(path):
        raise Refused(
            "no config file at %s\n"
            "  Make one for the cabinet with the provisioning tool, for example:\n"
            "    %s\n"
            "  then deploy it with:\n"
            "    make deploy PORT=/dev/ttyUSB0 CONFIG=cabinets/CAB-001/config.json"
            % (path, PROVISION))
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (ValueError, UnicodeError) as e:
        raise Refused("%s is not valid JSON: %s" % (path, e)) from None
    _, problems = config_mod.validate(raw)
    if isinstance(raw, dict) and raw.get("cmd_key", config_mod.TEST_KEY) == config_mod.TEST_KEY:
        problems.append("cmd_key: missing or the simulator's published test key (anyone could "
                        "sign commands); provision a real one")
    if problems:
        raise Refused("%s has %d problem(s); the cabinet would fall back to defaults for "
                      "them:\n%s" % (path, len(problems),
                                     "\n".join("  - " + p for p in problems)))
    return raw


def device_modules():
    """[(source, compiled)] paths relative to ROOT, in copy order: lib, drivers, firmware."""
    pairs = []
    for m in LIB_MODULES:
        src = "lib/" + m
        if not os.path.isfile(os.path.join(ROOT, src)):
            raise Refused("%s is missing: run `make deps`" % src)
        pairs.append((src, BUILD + "/" + src[:-3] + ".mpy"))
    for pkg in ("drivers", "firmware"):
        for src in sorted(glob.glob(pkg + "/**/*.py", root_dir=ROOT, recursive=True)):
            pairs.append((src, BUILD + "/" + src[:-3] + ".mpy"))
    return pairs


def mpy_version(mpy_cross):
    """(major, minor) of the .mpy files mpy-cross writes, from its --version line."""
    out = subprocess.run([mpy_cross, "--version"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise Refused("cannot read the .mpy version from %r" % out.strip())
    return int(m.group(1)), int(m.group(2))


def plan(port, config, mpy_cross, mpremote, version):
    """[(what, argv or None)]: the local and board actions, in order (None: a heading)."""
    pairs = device_modules()
    major, minor = version
    steps = [("compile device code to %s (mpy v%d.%d)" % (BUILD, major, minor), None),
             ("", ["rm", "-rf", BUILD])]
    for d in sorted({os.path.dirname(c) for _, c in pairs}):
        steps.append(("", ["mkdir", "-p", d]))
    for src, out in pairs:
        steps.append(("", [mpy_cross, "-o", out, src]))

    def board(*args):
        return [mpremote, "connect", port] + list(args)

    hold = _HOLD.format(tag=(minor << 8) | major, major=major, minor=minor, wdt_ms=WDT_HOLD_MS)
    steps.append(("hold the board: stop the firmware (boot.py turns every relay off), "
                  "check the .mpy version, keep the watchdog fed", None))
    steps.append(("", board("exec", hold)))
    dirs = list(dict.fromkeys(os.path.dirname(c)[len(BUILD) + 1:] for _, c in pairs))
    steps.append(("make the folders, remove .py sources that would shadow the .mpy", None))
    steps.append(("", board("resume", "exec", _PREPARE.format(
        make=_strings(sorted(dirs) + ["state"]), code=_strings(dirs)))))
    steps.append(("copy the compiled modules (unchanged files are skipped)", None))
    for d in dirs:
        files = [c for _, c in pairs if os.path.dirname(c) == BUILD + "/" + d]
        steps.append(("", board("resume", "fs", "cp", *files, ":%s/" % d)))
    steps.append(("copy the config, boot.py and main.py", None))
    steps.append(("", board("resume", "fs", "cp", config, ":config.json")))
    steps.append(("", board("resume", "fs", "cp", "boot.py", ":boot.py")))
    steps.append(("", board("resume", "fs", "cp", "main.py", ":main.py")))
    steps.append(("clear the boot-loop counter, then reset into the new firmware", None))
    steps.append(("", board("resume", "exec", _STABLE)))
    steps.append(("", board("resume", "reset")))
    return steps


def _from_root(path):
    """path as the tools, which run in ROOT, must be given it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def _strings(names):
    return ", ".join('"%s"' % n for n in names)


def _run(argv):
    if argv[0] == "rm":
        shutil.rmtree(os.path.join(ROOT, argv[-1]), ignore_errors=True)
        return 0
    if argv[0] == "mkdir":
        os.makedirs(os.path.join(ROOT, argv[-1]), exist_ok=True)
        return 0
    return subprocess.run(argv, cwd=ROOT).returncode


def main(argv=None):
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m tools.deploy",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--port", default="", help="the board's serial device, e.g. /dev/ttyUSB0")
    ap.add_argument("--config", default="config.json",
                    help="the cabinet's config file (default config.json)")
    ap.add_argument("--dry-run", action="store_true", help="print every action, run none")
    a = ap.parse_args(argv)
    if not a.port:
        print("deploy: no serial port: make deploy PORT=/dev/ttyUSB0 (`.venv/bin/mpremote "
              "connect list` lists them)", file=sys.stderr)
        return 2
    try:
        raw = check_config(a.config)
        if not a.dry_run and not os.path.exists(a.port):
            raise Refused("no serial device at %s (is the board plugged in?)" % a.port)
        mpy_cross = _tool("mpy-cross")
        steps = plan(a.port, _from_root(a.config), mpy_cross, _tool("mpremote"),
                     mpy_version(mpy_cross))
    except Refused as e:
        print("deploy: refused: %s" % e, file=sys.stderr)
        return 1
    cfg, _ = config_mod.validate(raw)
    print("deploy: %s: cabinet %s, %d ports -> %s%s"
          % (a.config, cfg["cabinet_id"], cfg["ports"], a.port,
             " (dry run: nothing is run)" if a.dry_run else ""))
    for what, argv_ in steps:
        if argv_ is None:
            print("# " + what)
            continue
        print(shlex.join(argv_), flush=True)
        if a.dry_run:
            continue
        rc = _run(argv_)
        if rc != 0:
            print("deploy: failed (exit %d) at: %s\n  Every relay stays off while the deploy "
                  "holds the board. Run the deploy again; press EN (reset) to restart the "
                  "firmware on the board instead." % (rc, shlex.join(argv_)), file=sys.stderr)
            return 1
    if not a.dry_run:
        print("deploy: done; the cabinet restarts with the new firmware")
    return 0


if __name__ == "__main__":
    sys.exit(main())
