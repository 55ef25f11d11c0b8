# Compact JWS, HS256 only (RFC 7515/7519): the signed command tokens of PROTOCOL.md.
#
# A server signs with any standard JWT library; the cabinet checks with this module.
# verify() order, as standard libraries do: size and shape, header (alg must be HS256),
# then the MAC in constant time, and only then the claims JSON, so unauthenticated
# claims are never parsed. HMAC is built on hashlib.sha256 (MicroPython has no hmac).

import binascii
import hashlib
import json

BAD_TOKEN = "bad_token"
BAD_SIGNATURE = "bad_signature"
ALG = "HS256"
DEFAULT_MAX_LEN = 2048  # characters; a command is a few hundred

_BLOCK = 64  # SHA-256 block size, bytes (RFC 2104)
_IPAD = 0x36
_OPAD = 0x5C
_HEADER = {"alg": ALG, "typ": "JWT"}
_SEP = (",", ":")
_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url_encode(data):
    """bytes -> base64url str without padding."""
    s = binascii.b2a_base64(data).decode().rstrip()
    return s.rstrip("=").replace("+", "-").replace("/", "_")


def _valid_b64url(s):
    if len(s) % 4 == 1:  # no base64 string has this length
        return False
    for c in s.encode():
        if c not in _B64URL:
            return False
    return True


def b64url_decode(s):
    """base64url str (no padding) -> bytes; ValueError when it is not base64url."""
    if isinstance(s, bytes):
        s = s.decode()
    if not _valid_b64url(s):
        raise ValueError("not base64url")
    s = s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4)
    return binascii.a2b_base64(s)


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of msg under key; both bytes."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = bytearray(_BLOCK)
    k[:len(key)] = key
    for i in range(_BLOCK):
        k[i] ^= _IPAD
    inner = hashlib.sha256(k)
    inner.update(msg)
    digest = inner.digest()
    for i in range(_BLOCK):
        k[i] ^= _IPAD ^ _OPAD
    outer = hashlib.sha256(k)
    outer.update(digest)
    return outer.digest()


def _same(a, b):
    """Constant-time equality of two byte strings (time depends on lengths only)."""
    diff = len(a) ^ len(b)
    n = min(len(b), len(a))
    for i in range(n):
        diff |= a[i] ^ b[i]
    return diff == 0


def _segment(obj):
    return b64url_encode(json.dumps(obj, separators=_SEP).encode())


def sign(claims, key):
    """claims dict, key bytes -> compact token str."""
    signing_input = _segment(_HEADER) + "." + _segment(claims)
    mac = hmac_sha256(key, signing_input.encode())
    return signing_input + "." + b64url_encode(mac)


def _json_segment(s):
    try:
        return json.loads(b64url_decode(s))
    except (ValueError, UnicodeError, RuntimeError):  # bad base64, UTF-8 or JSON; too deep
        return None


def verify(token, key, max_len=DEFAULT_MAX_LEN):
    """token (str or bytes) -> (claims dict, None) or (None, BAD_TOKEN | BAD_SIGNATURE).

    Checks the signature only; exp and jti are the caller's (replay.py)."""
    if len(token) > max_len:
        return None, BAD_TOKEN
    if isinstance(token, (bytes, bytearray)):
        try:
            token = bytes(token).decode()
        except UnicodeError:
            return None, BAD_TOKEN
    parts = token.split(".")
    if len(parts) != 3:
        return None, BAD_TOKEN
    for p in parts:
        if not _valid_b64url(p):
            return None, BAD_TOKEN
    header = _json_segment(parts[0])
    if not isinstance(header, dict) or header.get("alg") != ALG:
        return None, BAD_TOKEN
    mac = hmac_sha256(key, (parts[0] + "." + parts[1]).encode())
    if not _same(b64url_encode(mac).encode(), parts[2].encode()):
        return None, BAD_SIGNATURE
    claims = _json_segment(parts[1])
    if not isinstance(claims, dict):
        return None, BAD_TOKEN
    return claims, None
