"""The layering of firmware/ (docs/architecture.md): which layer may import which, and no
layer imports hardware (`machine`, `network`, `esp32`) or a driver: those come in through
the board contract (drivers/board.py)."""

import ast
import glob
import os

from mpy import ROOT

ALLOWED = {
    "core": {"core"},
    "store": {"core", "store"},
    "protocol": {"core", "store", "protocol", "system"},  # system: the config schema
    "link": {"core", "link"},
    "panel": {"core", "panel"},
    "system": {"core", "store", "protocol", "link", "panel", "system"},
}
HARDWARE = ("machine", "network", "esp32", "drivers")


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _modules(root):
    return sorted(glob.glob(os.path.join(root, "firmware", "*", "*.py")))


def _violations(root):
    bad = []
    for path in _modules(root):
        layer = os.path.basename(os.path.dirname(path))
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top in HARDWARE:
                bad.append("%s imports %s" % (os.path.relpath(path, root), mod))
            elif top == "firmware" and mod.count(".") >= 1:
                if mod.split(".")[1] not in ALLOWED.get(layer, ()):
                    bad.append("%s (%s) imports %s" % (os.path.relpath(path, root), layer, mod))
    return bad


def test_every_layer_is_known():
    layers = {os.path.basename(os.path.dirname(p)) for p in _modules(ROOT)}
    assert layers == set(ALLOWED), layers


def test_each_layer_imports_only_the_layers_it_may_and_no_hardware():
    assert _violations(ROOT) == []


def test_the_check_sees_a_forbidden_import(tmp_path):
    core = tmp_path / "firmware" / "core"
    core.mkdir(parents=True)
    (core / "x.py").write_text("from firmware.protocol import cloud\nimport machine\n")
    (core / "y.py").write_text("from firmware.core import codes\n")
    assert _violations(str(tmp_path)) == ["firmware/core/x.py (core) imports firmware.protocol",
                                          "firmware/core/x.py imports machine"]
