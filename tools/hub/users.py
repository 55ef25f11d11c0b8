"""Staff accounts: argon2 password hashes (argon2-cffi), API bearer tokens (stored as
SHA-256), web sessions with a CSRF token each, and the roles staff and admin."""

import hashlib
import hmac
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("staff", "admin")
SESSION_S = 12 * 3600  # one duty shift
_ph = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs the same time
_DUMMY = _ph.hash("not-a-password")


class UserError(ValueError):
    pass


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def add(cur, name, role, password):
    if role not in ROLES:
        raise UserError("--role %r: one of %s" % (role, ", ".join(ROLES)))
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise UserError("NAME %r: 1-64 characters without spaces" % name)
    if password is not None and len(password) < 8:
        raise UserError("password: at least 8 characters")
    token = "hub_" + secrets.token_urlsafe(24)
    pw = _ph.hash(password) if password else None
    if cur.one("SELECT name FROM users WHERE name = ?", (name,)):
        cur.run("UPDATE users SET role = ?, pw_hash = COALESCE(?, pw_hash), token_hash = ? "
                "WHERE name = ?", (role, pw, _token_hash(token), name))
    else:
        cur.run("INSERT INTO users (name, role, pw_hash, token_hash, created) "
                "VALUES (?, ?, ?, ?, ?)", (name, role, pw, _token_hash(token), int(time.time())))
    return token


def by_token(cur, token):
    if not token or len(token) > 200:
        return None
    return cur.one("SELECT name, role FROM users WHERE token_hash = ?", (_token_hash(token),))


def check_password(cur, name, password):
    row = cur.one("SELECT name, role, pw_hash FROM users WHERE name = ?", (name[:64],))
    h = row["pw_hash"] if row and row["pw_hash"] else _DUMMY
    try:
        _ph.verify(h, password[:1024])
    except (VerificationError, InvalidHashError):
        return None
    return {"name": row["name"], "role": row["role"]} if row and row["pw_hash"] else None


def open_session(cur, name):
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    cur.run("DELETE FROM web_sessions WHERE expires < ?", (time.time(),))
    cur.run("INSERT INTO web_sessions (id, name, csrf, expires) VALUES (?, ?, ?, ?)",
            (sid, name, csrf, time.time() + SESSION_S))
    return sid


def session(cur, sid):
    if not sid or len(sid) > 100:
        return None
    return cur.one("SELECT s.id, s.name, s.csrf, u.role FROM web_sessions s JOIN users u "
                   "ON u.name = s.name WHERE s.id = ? AND s.expires > ?", (sid, time.time()))


def close_session(cur, sid):
    cur.run("DELETE FROM web_sessions WHERE id = ?", (sid or "",))


def csrf_ok(sess, token):
    return bool(sess and token) and hmac.compare_digest(sess["csrf"], str(token))
