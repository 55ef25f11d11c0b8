"""A cabinet's config.json and server key record, checked with the firmware's own schema.

The config carries the keys below besides the contract keys (cabinet_id, mqtt_prefix,
ports, cmd_key). `NEEDED` is their schema entry in firmware/system/config.py's format
(kind, default, low, high); two kinds are new there: "text" (any string of printable
characters, length low-high) and "bitrows" (None, or a square list of low-high strings
of '0'/'1', one per row). `qr` is the cabinet's own QR code for the OLED: rows top to
bottom, '1' a dark module, no quiet zone (the display adds its own margin).
"""

import re
import secrets
import time
import urllib.parse

import segno

from firmware.system import config as fwconfig

NEEDED = {
    "mqtt_host": ("str", "127.0.0.1", 1, 253),
    "mqtt_port": ("int", 0, 0, 65535),  # 0: 1883, or 8883 with TLS (as firmware/link/uplink.py)
    "mqtt_user": ("str", "", 0, 64),  # "": connect without a user name
    "mqtt_password": ("text", "", 0, 64),
    "wifi_ssid": ("text", "", 0, 32),
    "wifi_password": ("text", "", 0, 63),
    "qr": ("bitrows", None, 21, 41),  # versions 1-6: fits a 64-pixel-high OLED at 1:1
}
# Which command-line argument each config key comes from, for error messages.
FLAG = {"cabinet_id": "--cabinet", "mqtt_prefix": "--site-prefix", "ports": "--ports",
        "mqtt_host": "--broker", "mqtt_port": "--broker", "mqtt_user": "--user",
        "mqtt_password": "(generated password)", "cmd_key": "(generated key)",
        "wifi_ssid": "--wifi-ssid", "wifi_password": "--wifi-password",
        "qr": "--operator-url"}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
QR_MAX_MODULES = NEEDED["qr"][3]


class ProvisionError(ValueError):
    """A bad argument or a config the firmware would not accept; the text names the cause."""


class SchemaError(ProvisionError):
    """firmware/system/config.py lacks a key provisioning writes (not the user's fault)."""


def check_id(flag, value):
    if not ID_RE.match(value or ""):
        raise ProvisionError("%s %r: use 1-32 letters, digits, '.', '_' or '-', starting with "
                             "a letter or digit" % (flag, value))
    return value


def check_url(url):
    u = urllib.parse.urlsplit(url or "")
    if u.scheme not in ("http", "https") or not u.hostname or u.fragment:
        raise ProvisionError("--operator-url %r: expected an http:// or https:// URL with a "
                             "host and no #fragment" % url)
    return url


def url_for(operator_url, cabinet, port=None):
    """The URL a QR code encodes: {operator_url}?c={cabinet}[&p={port, 1-based}]."""
    q = [("c", cabinet)] + ([("p", port)] if port is not None else [])
    return operator_url + ("&" if "?" in operator_url else "?") + urllib.parse.urlencode(q)


def qr_rows(text):
    """The QR code of `text` as '0'/'1' row strings without quiet zone; checks the size."""
    code = segno.make(text, error="m", micro=False)
    rows = ["".join("1" if dark else "0" for dark in row)
            for row in code.matrix_iter(scale=1, border=0)]
    if len(rows) > QR_MAX_MODULES:
        raise ProvisionError("--operator-url: the cabinet QR code %r needs %d modules a side, "
                             "more than the %d the OLED shows; use a shorter URL"
                             % (text, len(rows), QR_MAX_MODULES))
    return rows


def build(cabinet, prefix, ports, host, port, user, operator_url, wifi_ssid=None,
          wifi_password=None, now=None):
    """Returns (config, server_record). Raises ProvisionError naming the bad argument."""
    check_id("--cabinet", cabinet)
    check_id("--site-prefix", prefix)
    check_url(operator_url)
    if not isinstance(ports, int) or not 1 <= ports <= 16:
        raise ProvisionError("--ports %r: a cabinet has 1-16 ports" % (ports,))
    if not user or any(c.isspace() for c in user):
        raise ProvisionError("--user %r: a non-empty MQTT user name without spaces" % (user,))
    if wifi_password and not 8 <= len(wifi_password) <= 63:
        raise ProvisionError("--wifi-password: WPA2 needs 8-63 characters, got %d"
                             % len(wifi_password))
    if wifi_ssid is not None and not 1 <= len(wifi_ssid.encode()) <= 32:
        raise ProvisionError("--wifi-ssid %r: an SSID is 1-32 bytes" % wifi_ssid)
    cfg = {
        "cabinet_id": cabinet,
        "mqtt_prefix": prefix,
        "ports": ports,
        "cmd_key": secrets.token_bytes(32).hex(),
        "mqtt_host": host,
        "mqtt_port": port,
        "mqtt_user": user,
        "mqtt_password": secrets.token_hex(16),
        "qr": qr_rows(url_for(operator_url, cabinet)),
    }
    if wifi_ssid is not None:
        cfg["wifi_ssid"] = wifi_ssid
        cfg["wifi_password"] = wifi_password or ""
    check_config(cfg)
    now = int(time.time()) if now is None else int(now)
    record = {
        "cabinet_id": cabinet,
        "cmd_key": cfg["cmd_key"],
        "created": now,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "mqtt_prefix": prefix,
        "mqtt_user": user,
        "mqtt_password": cfg["mqtt_password"],  # for the broker's password file / ACL
    }
    return cfg, record


def check_config(cfg):
    """firmware.system.config.validate must report no problem; else ProvisionError naming flags."""
    _, problems = fwconfig.validate(cfg)
    if not problems:
        return
    lines, missing = [], False
    for p in problems:
        key = p.split(":", 1)[0]
        if key not in fwconfig.SCHEMA:
            missing = True
            lines.append("%s: firmware/system/config.py SCHEMA has no key %r (provisioning needs "
                         "%s = %r)" % (FLAG.get(key, key), key, key, NEEDED.get(key)))
        else:
            lines.append("%s: %s" % (FLAG.get(key, key), p))
    raise (SchemaError if missing else ProvisionError)(
        "the firmware would not accept this config:\n  " + "\n  ".join(lines))
