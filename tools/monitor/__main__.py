"""Command line: .venv/bin/python -m tools.monitor --broker HOST:PORT [options]."""

import argparse
import os
import sys

from tools import texts

from .link import parse_broker
from .model import Model, parse_site

PASSWORD_ENV = "MONITOR_MQTT_PASSWORD"


def build_parser():
    ap = argparse.ArgumentParser(
        prog=".venv/bin/python -m tools.monitor",
        description="Live view of e-bike charging cabinets, ports and alarms on an MQTT broker.")
    ap.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    ap.add_argument("--site", default="ebike/*",
                    help="PREFIX/CABINET-GLOB to watch (default ebike/*); PREFIX may be a "
                         "glob too, e.g. '*/garden-*'")
    ap.add_argument("--webhook", help="POST critical alarms as JSON to this URL "
                                      "(WeCom/DingTalk robot text shape)")
    ap.add_argument("--user", help="MQTT user name (password from $%s or --password)"
                    % PASSWORD_ENV)
    ap.add_argument("--password", help="MQTT password (prefer $%s)" % PASSWORD_ENV)
    ap.add_argument("--cafile", help="CA certificate file: connect with TLS, verified")
    ap.add_argument("--client-id", help="fixed client id: a persistent session, so QoS 1 "
                                        "alarms published while the monitor is away arrive")
    ap.add_argument("--lang", default=texts.DEFAULT_LANG, choices=texts.LANGS,
                    help="zh (default): alarm names, end reasons and what to do in Chinese, "
                         "from tools/texts.py; en: the wire words")
    ap.add_argument("--publish-acks", action="store_true",
                    help="also publish acknowledgements on {prefix}/{cabinet}/ack "
                         "(default: acknowledgements stay local to this monitor)")
    return ap


def make_app(argv):
    """Parse argv and build the app (raises SystemExit with a clear message on bad args)."""
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        broker = parse_broker(args.broker)
        prefix_glob, cabinet_glob = parse_site(args.site)
        forwarder = None
        if args.webhook:
            from .webhook import Forwarder
            forwarder = Forwarder(args.webhook, lang=args.lang)
    except ValueError as e:
        ap.error(str(e))
    if args.cafile and not os.path.isfile(args.cafile):
        ap.error("--cafile %r: no such file" % args.cafile)
    from .app import MonitorApp
    options = {"user": args.user, "password": args.password or os.environ.get(PASSWORD_ENV),
               "cafile": args.cafile, "client_id": args.client_id}
    return MonitorApp(Model(prefix_glob, cabinet_glob), broker, forwarder=forwarder,
                      publish_acks=args.publish_acks, link_options=options, lang=args.lang)


def main(argv=None):
    make_app(sys.argv[1:] if argv is None else argv).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
