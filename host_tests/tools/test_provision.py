"""tools/provision: config accepted by the firmware's own validate(), QR codes that decode
back to the right URLs (PNG with zxing-cpp; SVG rasterised from its own paths), clear
errors naming the bad argument.

Every key provisioning writes (build.NEEDED) is in firmware/system/config.py's schema.
"""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from firmware.system import config as fwconfig
from tools.provision import __main__ as cli
from tools.provision.build import NEEDED, build, url_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MISSING = sorted(k for k in NEEDED if k not in fwconfig.SCHEMA)
URL = "https://pay.example.com/charge"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def schema():
    """firmware/system/config.py holds every key provisioning writes (build.NEEDED)."""
    assert not MISSING, "firmware/system/config.py SCHEMA lacks %s" % ", ".join(MISSING)


def provision(tmp_path, *extra, ports="10", cabinet="cab-0001"):
    out = tmp_path / "out"
    argv = ["--cabinet", cabinet, "--broker", "mqtt.example.com:8883", "--user", cabinet,
            "--operator-url", URL, "--ports", ports, "--out", str(out), *extra]
    assert cli.main(argv) == 0
    return out


def test_config_validates_with_no_problems(schema, tmp_path):
    out = provision(tmp_path, "--wifi-ssid", "Garden Block 3", "--wifi-password", "s3cret pass")
    cfg = json.loads((out / "config.json").read_text())
    merged, problems = fwconfig.validate(cfg)
    assert problems == []
    assert merged["cabinet_id"] == "cab-0001" and merged["ports"] == 10
    assert merged["mqtt_prefix"] == "ebike"
    assert (cfg["mqtt_host"], cfg["mqtt_port"], cfg["mqtt_user"]) == ("mqtt.example.com", 8883,
                                                                      "cab-0001")
    assert re.fullmatch("[0-9a-f]{64}", cfg["cmd_key"])  # 32 random bytes
    assert re.fullmatch("[0-9a-f]{32}", cfg["mqtt_password"])
    assert cfg["wifi_ssid"] == "Garden Block 3"
    key = json.loads((out / "server_key.json").read_text())
    assert key["cabinet_id"] == "cab-0001" and key["cmd_key"] == cfg["cmd_key"]
    assert key["mqtt_password"] == cfg["mqtt_password"]
    assert abs(key["created"] - __import__("time").time()) < 60
    for f in ("config.json", "server_key.json"):  # secrets: owner only
        assert os.stat(out / f).st_mode & 0o077 == 0


def test_keys_differ_between_cabinets(schema, tmp_path):
    a, _ = build("a", "ebike", 4, "h", 1883, "a", URL)
    b, _ = build("b", "ebike", 4, "h", 1883, "b", URL)
    assert a["cmd_key"] != b["cmd_key"] and a["mqtt_password"] != b["mqtt_password"]


def test_real_schema_accepts_config():
    cfg, _ = build("cab-0001", "ebike", 10, "mqtt.example.com", 8883, "cab-0001", URL)
    assert fwconfig.validate(cfg)[1] == []


def test_oled_qr_decodes_to_cabinet_url(schema):
    cfg, _ = build("cab-0001", "ebike", 10, "h", 1883, "u", URL)
    rows = cfg["qr"]
    assert len(rows) <= NEEDED["qr"][3] and all(len(r) == len(rows) for r in rows)
    n, scale, quiet = len(rows), 8, 4
    img = Image.new("L", ((n + 2 * quiet) * scale,) * 2, 255)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, bit in enumerate(row):
            if bit == "1":
                d.rectangle(((x + quiet) * scale, (y + quiet) * scale,
                             (x + quiet + 1) * scale - 1, (y + quiet + 1) * scale - 1), fill=0)
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [URL + "?c=cab-0001"]


def test_png_stickers_decode_to_port_urls_in_order(schema, tmp_path):
    out = provision(tmp_path, ports="16")
    img = Image.open(out / "stickers.png")
    assert img.size == (2480, 3508)  # A4 at 300 dpi
    found = zxingcpp.read_barcodes(img)
    want = [URL + "?c=cab-0001&p=%d" % n for n in range(1, 17)]
    assert sorted(r.text for r in found) == sorted(want)
    # Row-major reading order matches port order, as the printed labels do.
    by_pos = sorted(found, key=lambda r: (r.position.top_left.y // 200, r.position.top_left.x))
    assert [r.text for r in by_pos] == want


def test_svg_is_well_formed_and_its_codes_decode(schema, tmp_path):
    out = provision(tmp_path, ports="3")
    root = ET.parse(out / "stickers.svg").getroot()
    assert root.tag == SVG_NS + "svg" and root.get("width") == "210mm"
    groups = root.findall(SVG_NS + "g")
    assert [g.get("id") for g in groups] == ["port-1", "port-2", "port-3"]
    w, h = (int(v) for v in root.get("viewBox").split()[2:])
    for n, g in enumerate(groups, 1):
        assert [t.text for t in g.findall(SVG_NS + "text")] == ["Port %d" % n, "cab-0001"]
        img = Image.new("L", (w, h), 255)
        d = ImageDraw.Draw(img)
        path = g.find(SVG_NS + "path").get("d")
        for x, y, dx, dy in re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)h-\d+z", path):
            x, y, dx, dy = int(x), int(y), int(dx), int(dy)
            d.rectangle((x, y, x + dx - 1, y + dy - 1), fill=0)
        assert [r.text for r in zxingcpp.read_barcodes(img)] == [url_for(URL, "cab-0001", n)]


def test_url_keeps_an_existing_query():
    assert url_for("https://x.example/s?op=7", "c1", 2) == "https://x.example/s?op=7&c=c1&p=2"


@pytest.mark.parametrize("args, flag", [
    (["--broker", "mqtt.example.com"], "--broker"),
    (["--broker", "h:99999"], "--broker"),
    (["--cabinet", "bad/id"], "--cabinet"),
    (["--cabinet", "x" * 33], "--cabinet"),
    (["--ports", "17"], "--ports"),
    (["--ports", "ten"], "--ports"),
    (["--operator-url", "ftp://x.example/a"], "--operator-url"),
    (["--operator-url", "https://x.example/" + "a" * 200], "--operator-url"),
    (["--site-prefix", "a+b"], "--site-prefix"),
    (["--user", "two words"], "--user"),
    (["--wifi-ssid", "net", "--wifi-password", "short"], "--wifi-password"),
])
def test_bad_arguments_name_the_argument(schema, tmp_path, capsys, args, flag):
    base = {"--cabinet": "cab-1", "--broker": "h:1883", "--user": "u",
            "--out": str(tmp_path / "o")}
    argv = []
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    with pytest.raises(SystemExit) as e:
        cli.main(argv + args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " + flag in err, err
    assert not (tmp_path / "o" / "config.json").exists()


def test_existing_output_is_kept_without_force(schema, tmp_path, capsys):
    out = provision(tmp_path)
    key = (out / "server_key.json").read_text()
    with pytest.raises(SystemExit):
        provision(tmp_path)
    err = capsys.readouterr().err
    assert "error: --out" in err and "--force" in err
    assert (out / "server_key.json").read_text() == key
    provision(tmp_path, "--force")
    assert (out / "server_key.json").read_text() != key


def test_module_runs_and_reports_missing_arguments():
    r = subprocess.run([sys.executable, "-m", "tools.provision", "--cabinet", "c1",
                        "--broker", "nohostport", "--user", "u", "--out", "/nonexistent/x"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "--broker 'nohostport'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tools.provision", "--cabinet", "c1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "--broker" in r.stderr and "--out" in r.stderr
