"""The hub's database: SQLite (a file path, the embedded default) or PostgreSQL (a
postgresql:// URL), through plain DB-API (sqlite3, psycopg 3).

SQL is written once with `?` placeholders; `Db` rewrites them to `%s` for psycopg.
Every record table is keyed by the record's wire `id`: `INSERT ... ON CONFLICT DO
NOTHING` makes the database the arbiter of exactly-once, whichever hub process stores it.
"""

import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager

DEFAULT_DB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "var", "hub.sqlite3")
POOL_SIZE = 8  # connections per hub process (paho's thread + the web's worker threads)
CONNECT_TIMEOUT_S = 10

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cabinets (
        id TEXT PRIMARY KEY, prefix TEXT NOT NULL, key_hex TEXT NOT NULL,
        ports INTEGER NOT NULL, energy_fen_per_kwh INTEGER NOT NULL,
        service_fen_per_kwh INTEGER NOT NULL, port_limit_w INTEGER NOT NULL,
        created BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT,
        token_hash TEXT UNIQUE NOT NULL, created BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS records (
        id TEXT NOT NULL, cabinet TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
        received DOUBLE PRECISION NOT NULL, hub TEXT NOT NULL, PRIMARY KEY (cabinet, id))""",
    """CREATE TABLE IF NOT EXISTS sessions (
        sid TEXT NOT NULL, cabinet TEXT NOT NULL, port INTEGER NOT NULL,
        start_t BIGINT, end_t BIGINT, auth TEXT, order_id TEXT, wh DOUBLE PRECISION,
        fen INTEGER, energy_fen INTEGER, service_fen INTEGER, reason TEXT,
        start_body TEXT, end_body TEXT, flag TEXT, PRIMARY KEY (cabinet, sid))""",
    "CREATE INDEX IF NOT EXISTS sessions_order ON sessions (order_id)",
    """CREATE TABLE IF NOT EXISTS alarms (
        id TEXT NOT NULL, cabinet TEXT NOT NULL, code TEXT NOT NULL, port INTEGER,
        level TEXT, state TEXT, value DOUBLE PRECISION, t BIGINT, body TEXT NOT NULL,
        received DOUBLE PRECISION NOT NULL, acked_by TEXT, acked_at DOUBLE PRECISION,
        PRIMARY KEY (cabinet, id))""",
    """CREATE TABLE IF NOT EXISTS alarm_notes (
        cabinet TEXT NOT NULL, alarm_id TEXT NOT NULL, who TEXT NOT NULL,
        note TEXT NOT NULL, t DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, cabinet TEXT NOT NULL, port INTEGER NOT NULL,
        limit_json TEXT NOT NULL, tariff_json TEXT NOT NULL, prepay_fen INTEGER NOT NULL,
        state TEXT NOT NULL, jti TEXT UNIQUE, sid TEXT, error TEXT, wh DOUBLE PRECISION,
        fen INTEGER, energy_fen INTEGER, service_fen INTEGER, refund_fen INTEGER,
        reason TEXT, pay_id TEXT, pay_state TEXT NOT NULL, client TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL, sent_at DOUBLE PRECISION,
        started_at DOUBLE PRECISION, updated DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS orders_client ON orders (client, created)",
    """CREATE TABLE IF NOT EXISTS commands (
        jti TEXT PRIMARY KEY, cabinet TEXT NOT NULL, op TEXT NOT NULL, port INTEGER,
        order_id TEXT, who TEXT NOT NULL, why TEXT, sent DOUBLE PRECISION NOT NULL,
        ok INTEGER, error TEXT, replied DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS cards (
        card TEXT PRIMARY KEY, holder TEXT, kind TEXT NOT NULL, balance_fen INTEGER NOT NULL,
        pass_until BIGINT, blocked INTEGER NOT NULL, updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pay_notices (
        id TEXT PRIMARY KEY, order_id TEXT NOT NULL, t DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS web_sessions (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL)""",
]


class DbError(RuntimeError):
    pass


def is_postgres(url):
    return url.startswith(("postgresql://", "postgres://"))


class Db:
    """A small connection pool; `with db.tx() as cur:` runs one transaction."""

    def __init__(self, url=None, pool_size=POOL_SIZE):
        self.url = url or DEFAULT_DB
        self.pg = is_postgres(self.url)
        if not self.pg:
            path = self.url[len("sqlite:///"):] if self.url.startswith("sqlite:///") else self.url
            self.path = os.path.abspath(path)
            d = os.path.dirname(self.path)
            if not os.path.isdir(d):
                os.makedirs(d, exist_ok=True)
        self.pool = queue.Queue()
        self.made = 0
        self.size = pool_size
        self.lock = threading.Lock()

    def _connect(self):
        if self.pg:
            import psycopg
            try:
                return psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S)
            except psycopg.OperationalError as e:
                raise DbError("--db %s: cannot connect to PostgreSQL: %s"
                              % (redact(self.url), str(e).strip())) from None
        c = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                            isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA busy_timeout=30000")
        c.execute("PRAGMA synchronous=NORMAL")
        return c

    def _get(self):
        try:
            return self.pool.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            if self.made < self.size:
                self.made += 1
                try:
                    return self._connect()
                except Exception:
                    self.made -= 1
                    raise
        return self.pool.get(timeout=60)

    @contextmanager
    def tx(self):
        conn = self._get()
        ok = False
        try:
            cur = Cursor(conn, self.pg)
            if not self.pg:
                conn.execute("BEGIN IMMEDIATE")
            yield cur
            conn.commit()
            ok = True
        finally:
            if not ok:
                try:
                    conn.rollback()
                except Exception:  # noqa: BLE001 - a broken connection is replaced
                    conn = None
            if conn is not None and (ok or self._alive(conn)):
                self.pool.put(conn)
            else:
                with self.lock:
                    self.made -= 1

    def _alive(self, conn):
        if not self.pg:
            return True
        return not conn.closed and not conn.broken

    def one(self, sql, args=()):
        with self.tx() as cur:
            return cur.one(sql, args)

    def all(self, sql, args=()):
        with self.tx() as cur:
            return cur.all(sql, args)

    def run(self, sql, args=()):
        with self.tx() as cur:
            return cur.run(sql, args)

    def scalar(self, sql, args=()):
        """The first column of the first row (a COUNT, a MAX)."""
        with self.tx() as cur:
            row = cur.one(sql, args)
        assert row is not None, sql
        return next(iter(row.values()))

    def create(self):
        with self.tx() as cur:
            for stmt in SCHEMA:
                cur.run(stmt)

    def close(self):
        while True:
            try:
                self.pool.get_nowait().close()
            except queue.Empty:
                return


class Cursor:
    def __init__(self, conn, pg):
        self.conn, self.pg = conn, pg

    def _exec(self, sql, args):
        if self.pg:
            sql = sql.replace("?", "%s")
            cur = self.conn.cursor()
            cur.execute(sql, args)
            return cur
        return self.conn.execute(sql, args)

    def run(self, sql, args=()):
        """Returns the number of rows changed."""
        return self._exec(sql, args).rowcount

    def one(self, sql, args=()):
        cur = self._exec(sql, args)
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def all(self, sql, args=()):
        cur = self._exec(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def redact(url):
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return "%s://%s:***@%s" % (scheme, creds.split(":", 1)[0], host)
    return url


def now():
    return time.time()
