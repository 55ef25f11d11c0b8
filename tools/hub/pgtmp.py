"""A throwaway PostgreSQL cluster (Debian's postgresql) for the tests and the load test:
initdb in a temporary directory and postgres on a free loopback port, run as the
postgres user when we are root. Fails loudly when PostgreSQL is missing.

    pg = Postgres()    # pg.url: postgresql://postgres@127.0.0.1:PORT/postgres
    pg.stop()
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def __init__(self, tmp=None):
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
