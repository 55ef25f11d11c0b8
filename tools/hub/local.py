"""`make hub`: the hub on its embedded defaults, with something to serve.

Starts the local broker the way `make sim` does (tools/demo.py: mosquitto, else amqtt)
unless BROKER=HOST:PORT names one, the simulated cabinet sim-001 (the firmware on the
MicroPython unix port, the default day, the published test key) against it, registers
sim-001 in the SQLite file var/hub.sqlite3, makes an admin `admin` with a printed
password when there is no user yet, and serves http://127.0.0.1:8080 (HTTP=HOST:PORT).

    .venv/bin/python -m tools.hub.local [--broker HOST:PORT] [--http HOST:PORT] [--speed N]
"""

import argparse
import os
import secrets
import signal
import sys
import tempfile

from firmware.system import config as fwconfig
from tools import demo

from . import __main__ as cli
from .db import DEFAULT_DB, Db


def main(argv=None):
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m tools.hub.local")
    ap.add_argument("--broker", default=os.environ.get("BROKER") or None)
    ap.add_argument("--http", default=os.environ.get("HTTP") or cli.DEFAULT_HTTP)
    ap.add_argument("--speed", default=os.environ.get("SPEED") or "60")
    ap.add_argument("--db", default=DEFAULT_DB)
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = tempfile.mkdtemp(prefix="ebike-hub-")
    procs = []
    try:
        if a.broker is None:
            broker, port, name = demo.start_broker(work)
            procs.append(broker)
            a.broker = "127.0.0.1:%d" % port
            print("hub: started %s on %s" % (name, a.broker), flush=True)
            fw = demo.start_firmware(demo.DEFAULT_SCENARIO, port, a.speed, work)
            procs.append(fw)
            print("hub: the simulated cabinet sim-001 runs at speed %s (log %s)"
                  % (a.speed, work), flush=True)
        cli.main(["cabinet", "add", "sim-001", "--key", fwconfig.TEST_KEY, "--db", a.db])
        db = Db(a.db)
        if not db.all("SELECT name FROM users"):
            pw = secrets.token_urlsafe(9)
            cli.main(["user", "add", "admin", "--role", "admin", "--password", pw,
                      "--db", a.db])
            print("hub: duty room login admin / %s" % pw)
        db.close()
        host, port = cli.hostport(ap, "--http", a.http)
        print("hub: resident page http://%s:%d/charge?c=sim-001&p=1" % (host, port))
        return cli.main(["serve", "--db", a.db, "--broker", a.broker, "--http", a.http,
                         "--name", "hub-local"])
    except KeyboardInterrupt:
        return 130
    finally:
        demo.stop(procs)


if __name__ == "__main__":
    sys.exit(main())
