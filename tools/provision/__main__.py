"""Command line:
.venv/bin/python -m tools.provision --cabinet ID --broker HOST:PORT --user U --out DIR

Writes into DIR: config.json (for the cabinet's flash), server_key.json (for the
operator's server and broker), stickers.svg and stickers.png (one QR sticker per port).
Bad arguments exit with status 2 and a message naming the argument; existing output is
never overwritten without --force (a second key would lock the server out).
"""

import argparse
import json
import os
import sys

from . import stickers
from .build import ProvisionError, SchemaError, build, url_for

DEFAULT_OPERATOR_URL = "https://operator.example/charge"
OUT_FILES = ("config.json", "server_key.json", "stickers.svg", "stickers.png")


def build_parser():
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m tools.provision",
                                 description="Provision one e-bike charging cabinet.")
    ap.add_argument("--cabinet", required=True, help="cabinet id (topic level, 1-32 chars)")
    ap.add_argument("--broker", required=True, help="HOST:PORT the cabinet connects to")
    ap.add_argument("--user", required=True, help="the cabinet's MQTT user name")
    ap.add_argument("--site-prefix", default="ebike", help="MQTT topic prefix (default ebike)")
    ap.add_argument("--ports", default="10", help="number of ports, 1-16 (default 10)")
    ap.add_argument("--operator-url", default=None,
                    help="URL the QR codes open: the hub's resident page, "
                         "http(s)://HUB/charge (tools/hub, docs/hub.md), with "
                         "?c=CABINET&p=PORT added (default %s, a placeholder)"
                         % DEFAULT_OPERATOR_URL)
    ap.add_argument("--wifi-ssid", help="Wi-Fi network the cabinet joins")
    ap.add_argument("--wifi-password", help="its WPA2 password (8-63 characters)")
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    ap.add_argument("--force", action="store_true", help="overwrite existing output files")
    return ap


def parse_broker(text):
    host, sep, port = (text or "").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ProvisionError("--broker %r: expected HOST:PORT with a port 1-65535, e.g. "
                             "mqtt.example.com:8883" % (text,))
    return host, int(port)


def _write(path, data, secret=False):
    tmp = path + ".tmp"
    mode = 0o600 if secret else 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def run(args):
    host, port = parse_broker(args.broker)
    if not args.ports.isdigit():
        raise ProvisionError("--ports %r: a whole number 1-16" % args.ports)
    url = args.operator_url or DEFAULT_OPERATOR_URL
    cfg, record = build(args.cabinet, args.site_prefix, int(args.ports), host, port,
                        args.user, url, args.wifi_ssid, args.wifi_password)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ProvisionError("--out %r: exists and is not a directory" % args.out)
    existing = [f for f in OUT_FILES if os.path.exists(os.path.join(args.out, f))]
    if existing and not args.force:
        raise ProvisionError("--out %r: already holds %s; use --force to replace them (the "
                             "old cmd_key stops working)" % (args.out, ", ".join(existing)))
    os.makedirs(args.out, exist_ok=True)
    urls = [url_for(url, args.cabinet, n) for n in range(1, cfg["ports"] + 1)]
    title = "Cabinet %s - scan to charge" % args.cabinet
    out = args.out
    _write(os.path.join(out, "config.json"), json.dumps(cfg, indent=1) + "\n", secret=True)
    _write(os.path.join(out, "server_key.json"), json.dumps(record, indent=1) + "\n",
           secret=True)
    _write(os.path.join(out, "stickers.svg"), stickers.svg(args.cabinet, urls, title, url))
    png = os.path.join(out, "stickers.png")
    stickers.png(args.cabinet, urls, title, url, png + ".tmp")
    os.replace(png + ".tmp", png)
    return url


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        url = run(args)
    except SchemaError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except ProvisionError as e:
        ap.error(str(e))
    if args.operator_url is None:
        print("warning: QR codes point at the placeholder %s; pass --operator-url "
              "https://YOUR-HUB/charge (the hub's resident page)" % url, file=sys.stderr)
    print("provisioned %s: %s" % (args.cabinet, ", ".join(
        os.path.join(args.out, f) for f in OUT_FILES)))
    print("next: register it with the hub (the key stays on the server):\n"
          "  .venv/bin/python -m tools.hub cabinet add %s --from %s --ports %s"
          % (args.cabinet, os.path.join(args.out, "server_key.json"), args.ports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
