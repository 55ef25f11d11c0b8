"""Every command the docs and the tools' messages print works as printed on a fresh clone:
no bare `python -m tools...` (outside the venv it fails: no segno, no paho), and the
provisioning path into the hub runs exactly as printed."""

import glob
import os
import re
import shlex
import subprocess

from mpy import ROOT

BARE = re.compile(r"(?<![/\w.$(])(python3? -m tools\.|micropython tools/)")


def _texts():
    files = [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "*.md"))
    files += glob.glob(os.path.join(ROOT, "tools", "**", "*.py"), recursive=True)
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                yield os.path.relpath(f, ROOT), n, line


def test_no_command_is_printed_without_the_venv():
    bad = ["%s:%d: %s" % (f, n, line.strip()) for f, n, line in _texts() if BARE.search(line)]
    assert not bad, "\n".join(bad)


def _run(cmd, tmp):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    return subprocess.run(cmd, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_make_deploy_prints_a_provisioning_command_that_works(tmp_path):
    p = _run("make deploy DRY_RUN=1 PORT=/dev/null CONFIG=%s" % (tmp_path / "none.json"),
             tmp_path)
    assert p.returncode != 0
    line = [x for x in p.stderr.splitlines() if "-m tools.provision" in x][0]
    cmd = line[line.index(".venv/bin/python"):].strip().rstrip(".").strip("`")
    out = tmp_path / "CAB-001"
    args = shlex.split(cmd)
    args[args.index("--out") + 1] = str(out)  # not into the work tree
    p = _run(shlex.join(args), tmp_path)
    assert p.returncode == 0, p.stderr
    assert (out / "server_key.json").exists()
    # the next step it prints registers the cabinet with the hub, as printed (+ a test db)
    nxt = [x.strip() for x in p.stdout.splitlines() if "-m tools.hub cabinet add" in x][0]
    p = _run(nxt + " --db %s" % (tmp_path / "hub.sqlite3"), tmp_path)
    assert p.returncode == 0, p.stderr
    assert "cabinet CAB-001 (ebike/CAB-001, 10 ports) added" in p.stdout


def test_hub_contract_commands_run_as_documented(tmp_path):
    db = tmp_path / "h.sqlite3"
    p = _run(".venv/bin/python -m tools.hub cabinet add c1 --key %s --prefix site1 --db %s"
             % ("ab" * 32, db), tmp_path)
    assert p.returncode == 0, p.stderr
    p = _run(".venv/bin/python -m tools.hub user add amy --role admin --db %s" % db, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[-1].startswith("hub_")
    p = _run(".venv/bin/python -m tools.hub user add amy --role boss --db %s" % db, tmp_path)
    assert p.returncode == 2 and "--role" in p.stderr
    p = _run(".venv/bin/python -m tools.hub cabinet add c2 --key zz --db %s" % db, tmp_path)
    assert p.returncode == 2 and "--key" in p.stderr
    p = _run(".venv/bin/python -m tools.hub serve --broker nohost --db %s" % db, tmp_path)
    assert p.returncode == 2 and "--broker 'nohost'" in p.stderr
