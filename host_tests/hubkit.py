"""Host side of the hub tests: the hub as a process (python -m tools.hub serve), a
throwaway PostgreSQL cluster, and small HTTP helpers.

    pg = Postgres(tmp)                      # initdb + postgres on a free port, as user postgres
    hub = HubProc(db_url, broker.port, tmp) # waits for /healthz with the MQTT link up
    status, doc = call("POST", hub.url + "/api/orders", {...})
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from mpy import ROOT
from mqttkit import free_port

PG_BIN = "/usr/lib/postgresql/15/bin"


def pg_bin():
    """The newest Debian PostgreSQL's bin directory; fails loudly when it is missing."""
    base = "/usr/lib/postgresql"
    vers = sorted((d for d in os.listdir(base) if d.isdigit()), key=int) \
        if os.path.isdir(base) else []
    if not vers:
        raise AssertionError("PostgreSQL is not installed (apt-get install postgresql; "
                             ".ci/run does it)")
    return os.path.join(base, vers[-1], "bin")


class Postgres:
    """A throwaway cluster in tmp, run as the postgres user (root may not run it)."""

    def __init__(self, tmp):
        # its own directory: pytest's tmp tree is private to root
        self.dir = tempfile.mkdtemp(prefix="hub-pg-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise AssertionError("no postgres user: install Debian's postgresql") from None
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        b = pg_bin()
        run_as = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
        r = subprocess.run(run_as + [os.path.join(b, "initdb"), "-D", self.data, "-A",
                                     "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 0, "initdb failed: %s" % r.stderr[-2000:]
        self.log = os.path.join(self.dir, "log")
        self.p = subprocess.Popen(run_as + [os.path.join(b, "postgres"), "-D", self.data,
                                            "-p", str(self.port), "-k", self.dir,
                                            "-c", "listen_addresses=127.0.0.1",
                                            "-c", "fsync=off", "-c", "max_connections=200"],
                                  stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.url = "postgresql://postgres@127.0.0.1:%d/postgres" % self.port
        end = time.time() + 30
        import psycopg
        while time.time() < end:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.2)
        raise AssertionError("postgres did not start: %s" % open(self.log).read()[-2000:])

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def hub_cli(*args):
    r = subprocess.run([sys.executable, "-m", "tools.hub"] + list(args), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


class HubProc:
    def __init__(self, db, broker_port, tmp, name=None, extra=(), env=None):
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
        end = time.time() + 30
        while time.time() < end:
            assert self.p.poll() is None, "hub exited: %s" % open(self.log).read()[-3000:]
            try:
                st, doc = call("GET", self.url + "/healthz")
                if st == 200 and doc["mqtt"]:
                    return
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
