# Every screen draws in Chinese and English; every string fits the 128x64 panel; a
# character without a glyph is a '?' box; the QR matrix is scaled with a quiet zone.
import framebuf
import ui_scenes

from firmware.panel import ui
from firmware.panel import ui_text as T

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

W = 128
H = 64


class _NoGlyphs:
    CHARS = ""
    GLYPHS = b""


def _fb():
    buf = bytearray(W * H // 8)
    return buf, framebuf.FrameBuffer(buf, W, H, framebuf.MONO_VLSB)


def _lit(buf):
    n = 0
    for b in buf:
        while b:
            n += b & 1
            b >>= 1
    return n


def _px(buf, x, y):
    return (buf[(y >> 3) * W + x] >> (y & 7)) & 1


def test_every_screen_draws_in_both_languages():
    for lang in T.LANGS:
        frames = ui_scenes.render_all(lang)
        assert [f[0] for f in frames] == [s[0] for s in ui_scenes.SCENES]
        seen = set()
        for name, img in frames:
            assert len(img) == W * H // 8
            assert _lit(img) > 40, (lang, name)  # something readable is on the glass
            seen.add(img)
        assert len(seen) == len(frames), lang  # no two screens look the same


def test_every_screen_id_has_a_scene():
    assert sorted(set(s[1] for s in ui_scenes.SCENES)) == sorted(T.SCREENS)


def test_languages_differ_and_unknown_language_is_chinese():
    zh = ui_scenes.render_all("zh")
    en = ui_scenes.render_all("en")
    xx = ui_scenes.render_all("xx")
    for a, b, c in zip(zh, en, xx):
        assert a[1] != b[1] and a[1] == c[1], a[0]


def test_every_message_fits_on_the_panel():
    # zh: 16 px rows, at most 4; en: ASCII rows every 10 px, at most 6; no line too wide
    for lang in T.LANGS:
        tab = T.table(lang)
        for key in tab:
            text = tab[key].replace("{}", "16")
            lines = ui.wrap(text, W)
            for ln in lines:
                assert ui.text_width(ln) <= W, (lang, key, ln)
            height = 0
            for ln in lines:
                height += 16 if ui.has_wide(ln) else 10
            assert height <= H + 2, (lang, key, lines)


def test_wrap_keeps_words_and_breaks_between_wide_characters():
    assert ui.wrap("Port 3 is on. Plug in your charger.", 128) == [
        "Port 3 is on.", "Plug in your", "charger."]
    assert ui.wrap("一二三四五六七八九", 128) == ["一二三四五六七八", "九"]
    assert ui.wrap("a\nb", 128) == ["a", "b"]
    assert ui.text_width("3号口") == 8 + 16 + 16


def test_glyph_comes_from_the_table_and_a_missing_one_is_a_box():
    buf, fb = _fb()
    tx = ui.Text(fb)
    tx.draw("电", 0, 0)
    i = ui._G.CHARS.find("电")
    assert i >= 0
    g = ui._G.GLYPHS[i * 32:(i + 1) * 32]
    for y in range(16):
        for x in range(16):
            assert _px(buf, x, y) == (g[(y >> 3) * 16 + x] >> (y & 7)) & 1
    buf, fb = _fb()
    end = ui.Text(fb).draw("\u9fa5", 0, 0)  # a CJK character the UI never uses
    assert end == 16
    assert _px(buf, 1, 1) and _px(buf, 14, 14) and not _px(buf, 0, 0)  # the box outline
    buf, fb = _fb()
    ui.Text(fb, _NoGlyphs).draw("充电", 0, 0)  # an empty glyph table: boxes, no crash
    assert _lit(buf) > 0 and _px(buf, 17, 1) and _px(buf, 30, 14)


def test_inverted_text_clears_pixels_on_a_lit_bar():
    buf, fb = _fb()
    fb.fill_rect(0, 0, W, 16, 1)
    ui.Text(fb).draw("警告 A", 0, 0, 0)
    assert _lit(buf) < W * 16  # the glyphs and the letter are dark holes in the bar
    assert _lit(buf[W * 2:]) == 0  # nothing under the bar


def test_every_ui_character_has_a_glyph():
    assert ui._G is not None, "lib/glyphs_zh.py missing: build it with tools/glyphs.py"
    for lang in T.LANGS:
        for text in T.table(lang).values():
            for ch in text:
                assert ord(ch) < 0x80 or ui._G.CHARS.find(ch) >= 0, ch


def test_qr_rows_parse_as_bits_or_hex_and_bad_rows_are_named():
    bits = ui.parse_qr(["101", "010", "111"])
    hexr = ui.parse_qr(["A", "4", "E"])  # 1010, 0100, 1110: the same first 3 columns
    for (b1, v1), (b2, v2) in zip(bits, hexr):
        for x in range(3):
            assert (v1 >> (b1 - 1 - x)) & 1 == (v2 >> (b2 - 1 - x)) & 1
    for bad, word in ((["101", "01", "111"], "row 1"), ([], "list"), (["1" * 61] * 61, "fit"),
                      (["10x", "010", "111"], "row 0")):
        try:
            ui.parse_qr(bad)
        except ValueError as e:
            assert word in str(e), (bad, e)
        else:
            raise AssertionError("accepted %r" % bad)
    u = ui.Ui(_fb()[1], "zh", ["11", "1"])  # a bad config value: no QR, no crash
    assert u.qr is None and "row" in u.qr_error


def test_qr_is_scaled_to_fit_with_a_light_quiet_zone():
    # version 1 (21 modules): 2 px modules, 4-module quiet zone = 58 px square
    # version 3 (29 modules): 1 px modules, quiet zone 4 -> 37 px
    for n, scale, quiet in ((21, 2, 4), (25, 2, 3), (29, 1, 4), (57, 1, 3)):
        rows = ["1" * n] * n
        fb, s, q = ui.qr_image(ui.parse_qr(rows))
        assert (s, q) == (scale, quiet), (n, s, q)
        side = (n + 2 * q) * s
        off = (64 - side) // 2
        assert fb.pixel(off, off) == 1  # quiet zone: lit (light)
        assert fb.pixel(off + q * s, off + q * s) == 0  # first module: dark
        assert fb.pixel(off + (q + n) * s - 1, off + (q + n) * s - 1) == 0
        assert fb.pixel(off + side - 1, off + side - 1) == 1
        if off > 0:
            assert fb.pixel(off - 1, off - 1) == 0  # outside the symbol: panel black


def test_session_screen_formats_integers_without_floats():
    buf, fb = _fb()
    u = ui.Ui(fb, "en")
    assert u.yuan(5) == "0.05 yuan" and u.yuan(12345) == "123.45 yuan"
    assert u.limit_text({"minutes": 90}) == "1h30" and u.limit_text({"minutes": 240}) == "4h"
    assert u.limit_text({"wh": 1500}) == "1.5kWh" and u.limit_text({"wh": 500}) == "500Wh"
    assert u.limit_text({"fen": 1000}) == "10 yuan" and u.limit_text({"full": True}) == "full"
