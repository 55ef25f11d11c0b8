"""Every screen, drawn by the real ssd1306 driver onto the virtual OLED and saved as PNG.

Frames come from what the driver sent over the virtual I2C bus (tools/sim/oled_model),
on CPython (framebuf stand-in) and on the MicroPython unix port (the real framebuf):
both must give the same PNG bytes. Pillow decodes every PNG; zxing-cpp reads the QR
screen back; the Chinese glyphs on the glass are compared with unifont.hex itself.
"""

import os
import subprocess
import sys

import pytest
import segno
import zxingcpp
from mpy import ROOT, run_mpy
from PIL import Image

sys.path.insert(0, os.path.join(ROOT, "host_tests", "dualkit"))
import png  # noqa: E402
import ui_scenes  # noqa: E402

UNIFONT_HEX = "/usr/share/unifont/unifont.hex"
SCALE = 4
URL = "https://cab.example/c/sim-001"


def _build_glyphs():
    assert os.path.exists(UNIFONT_HEX), (
        "%s missing: install the Debian package 'unifont' (apt-get install unifont)" % UNIFONT_HEX)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "glyphs.py")],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def glyphs():
    _build_glyphs()
    import importlib

    import glyphs_zh

    importlib.reload(glyphs_zh)  # the file may just have been (re)written
    from firmware.panel import ui

    ui._G = glyphs_zh
    return glyphs_zh


def _qr_rows(text, version=None, hex_rows=False):
    q = segno.make(text, error="m", version=version, micro=False, boost_error=False)
    rows = ["".join(str(int(b)) for b in row) for row in q.matrix]
    if hex_rows:
        n = len(rows)
        digits = (n + 7) // 8 * 2
        rows = ["%0*X" % (digits, int(r + "0" * (digits * 4 - n), 2)) for r in rows]
    return q.version, rows


def _unifont(ch):
    """16 rows of 16 bits of one character, read straight from unifont.hex."""
    key = "%04X:" % ord(ch)
    with open(UNIFONT_HEX) as f:
        for line in f:
            if line.startswith(key):
                d = line.strip()[5:]
                return [int(d[i * 4:i * 4 + 4], 16) for i in range(16)]
    raise AssertionError("%r not in unifont" % ch)


def _render_cpython(out_dir, qr):
    os.makedirs(out_dir, exist_ok=True)
    frames = {}
    for lang in ("zh", "en"):
        for name, img in ui_scenes.render_all(lang, qr):
            png.write(os.path.join(out_dir, "%s_%s.png" % (lang, name)), img, 128, 64, SCALE)
            frames[(lang, name)] = img
    return frames


def _render_unix_port(out_dir, qr):
    os.makedirs(out_dir, exist_ok=True)
    code = (
        "sys.path.insert(0, %r)\n"
        "import png, ui_scenes\n"
        "for lang in ('zh', 'en'):\n"
        "    for name, img in ui_scenes.render_all(lang, %r):\n"
        "        png.write('%s/%%s_%%s.png' %% (lang, name), img, 128, 64, %d)\n"
        "print('done')\n" % (os.path.join(ROOT, "host_tests", "dualkit"), qr, out_dir, SCALE))
    assert run_mpy(code).strip() == "done"


def test_every_screen_png_same_on_both_vms_and_decodes(glyphs, tmp_path):
    version, qr = _qr_rows(URL)
    frames = _render_cpython(str(tmp_path / "cpython"), qr)
    _render_unix_port(str(tmp_path / "mpy"), qr)
    assert len(frames) == 2 * len(ui_scenes.SCENES)
    for (lang, name), frame in frames.items():
        fn = "%s_%s.png" % (lang, name)
        a = (tmp_path / "cpython" / fn).read_bytes()
        b = (tmp_path / "mpy" / fn).read_bytes()
        assert a == b, "%s differs between CPython's stand-in and MicroPython's framebuf" % fn
        im = Image.open(tmp_path / "cpython" / fn)
        im.load()
        assert im.size == (128 * SCALE, 64 * SCALE) and im.mode == "1", fn
        px = im.load()
        for y in range(0, 64, 3):  # the PNG is the frame, scaled
            for x in range(0, 128, 5):
                lit = (frame[(y >> 3) * 128 + x] >> (y & 7)) & 1
                assert bool(px[x * SCALE + 1, y * SCALE + 2]) == bool(lit), (fn, x, y)


@pytest.mark.parametrize("text,version,hex_rows", [
    ("sim-001", 1, False),  # 21 modules: 2 px each, 4-module quiet zone
    ("https://c.example/s/001", 2, True),  # 25: 2 px, quiet zone 3; hex rows
    (URL, None, False),  # segno's choice, version 3 (29): 1 px modules
    (URL, 4, False),  # 33 modules, 1 px
])
def test_qr_screen_reads_back(glyphs, tmp_path, text, version, hex_rows):
    v, rows = _qr_rows(text, version, hex_rows)
    (name, frame), = ui_scenes.render_all("zh", rows, (("qr", "qr", ("sim-001",)),))
    path = str(tmp_path / "qr.png")
    png.write(path, frame, 128, 64, SCALE)
    found = zxingcpp.read_barcodes(Image.open(path).convert("L"))
    assert [r.text for r in found] == [text], (v, found)
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode


def test_chinese_glyphs_on_the_glass_are_unifonts(glyphs, tmp_path):
    # every glyph in the table is the Unifont bitmap, bit for bit
    assert len(glyphs.GLYPHS) == 32 * len(glyphs.CHARS)
    for i, ch in enumerate(glyphs.CHARS):
        rows = _unifont(ch)
        g = glyphs.GLYPHS[32 * i:32 * i + 32]
        for y in range(16):
            for x in range(16):
                assert ((g[(y >> 3) * 16 + x] >> (y & 7)) & 1) == ((rows[y] >> (15 - x)) & 1), ch
    # and the idle screen's "空闲" as captured from the bus and saved as PNG
    (name, frame), = ui_scenes.render_all("zh", None, (("idle", "idle", ui_scenes.SCENES[0][2]),))
    path = str(tmp_path / "idle.png")
    png.write(path, frame, 128, 64, SCALE)
    px = Image.open(path).load()
    x0 = (128 - (16 * 2 + 8 * 5)) // 2  # "空闲 7/10" centred, in the row at y = 22
    for k, ch in enumerate("空闲"):
        rows = _unifont(ch)
        for y in range(16):
            for x in range(16):
                lit = bool(px[(x0 + 16 * k + x) * SCALE, (22 + y) * SCALE])
                assert lit == bool((rows[y] >> (15 - x)) & 1), (ch, x, y)


def test_glyph_table_holds_only_the_ui_characters(glyphs):
    from firmware.panel import ui_text

    used = set()
    for lang in ui_text.LANGS:
        for text in ui_text.table(lang).values():
            used.update(ch for ch in text if ord(ch) > 0x7F)
    assert set(glyphs.CHARS) == used
    assert list(glyphs.CHARS) == sorted(glyphs.CHARS)
    assert "up to date" in _build_glyphs()  # a second build writes nothing


def test_glyph_build_errors_name_the_fix(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "glyphs.py"), "--hex",
                        str(tmp_path / "none.hex"), "--out", str(tmp_path / "g.py")],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "apt-get install unifont" in p.stderr
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import glyphs as tool
    finally:
        sys.path.pop(0)
    hexf = tmp_path / "mini.hex"
    hexf.write_text("00B0:00000000182424180000000000000000\n"  # 8 px wide
                    "7535:" + "0100" * 16 + "\n")
    assert len(tool.build(["电"], str(hexf))) == 32
    for chars, word in ((["°"], "8 px wide"), (["充"], "not in")):
        with pytest.raises(tool.GlyphError, match=word):
            tool.build(chars, str(hexf))
