"""Host side of the hub tests: the hub as a process (python -m tools.hub serve), a
throwaway PostgreSQL cluster, and small HTTP helpers.

    pg = Postgres(tmp)                      # initdb + postgres on a free port, as user postgres
    hub = HubProc(db_url, broker.port, tmp) # waits for /healthz with the MQTT link up
    status, doc = call("POST", hub.url + "/api/orders", {...})
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from mpy import ROOT
from mqttkit import free_port

from tools.hub.pgtmp import Postgres  # noqa: F401 - the tests' PostgreSQL


def hub_cli(*args):
    r = subprocess.run([sys.executable, "-m", "tools.hub"] + list(args), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


class HubProc:
    def __init__(self, db, broker_port, tmp, name=None, extra=(), env=None):
        # free_port() only finds a port that was free a moment ago: another process on the
        # machine may bind it first. The hub then exits "address already in use"; that, and
        # only that, is tried again on another port (three tries at most).
        for attempt in range(3):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            self.name = name or "hub-test-%d" % self.port
            self.log = os.path.join(str(tmp), "%s.log" % self.name)
            cmd = [sys.executable, "-m", "tools.hub", "serve", "--db", db, "--broker",
                   "127.0.0.1:%d" % broker_port, "--http", "127.0.0.1:%d" % self.port,
                   "--name", self.name] + list(extra)
            e = dict(os.environ)
            e.update(env or {})
            self.p = subprocess.Popen(cmd, cwd=ROOT, stdout=open(self.log, "w"),
                                      stderr=subprocess.STDOUT, env=e)
            if self._wait_up() or attempt == 2:
                break
        assert self.p.poll() is None, "hub exited: %s" % open(self.log).read()[-3000:]

    def _wait_up(self):
        """True when the hub answers /healthz with its broker connected, False when it
        exited because its port was taken; anything else fails the test."""
        end = time.time() + 30
        while time.time() < end:
            if self.p.poll() is not None:
                out = open(self.log).read()
                assert "address already in use" in out, "hub exited: %s" % out[-3000:]
                return False
            try:
                st, doc = call("GET", self.url + "/healthz")
                if st == 200 and doc["mqtt"]:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("hub not up: %s" % open(self.log).read()[-3000:])

    def health(self):
        return call("GET", self.url + "/healthz")[1]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def call(method, url, body=None, headers=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            text = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        text, status = e.read(), e.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode(errors="replace")


def wait_for(fn, timeout=60, what="condition", every=0.1):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError("no %s within %s s; last %r" % (what, timeout, last))
