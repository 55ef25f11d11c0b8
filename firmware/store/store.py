"""Atomic small-record storage: two checksummed slots per record, newest good one wins.

`write(d, name, obj)` serialises obj as one line

    <crc32 as 8 hex digits> <seq> <compact JSON>\\n

where the CRC covers "<seq> <JSON>" and seq grows by one per write. The line goes to
`name.tmp`, which is then renamed over the slot (`name.a` or `name.b`) that does NOT hold
the newest good copy. On littlefs a rename over an existing file is atomic and a closed
file is durable, so a power cut at any moment leaves at least the previous good copy
(FIELD_FACTS.md section 5). A torn `name.tmp` is simply overwritten by the next write.

`read(d, name)` returns (obj, None), or (older obj, problem) when a slot fails its check,
or (None, problem) when no slot verifies, or (None, None) when the record was never
written. It never raises on what it finds in the files.
"""

import binascii
import json
import os

_SLOTS = ("a", "b")
_MAX_BYTES = 4096  # larger than any record we write: a bigger slot file is garbage
_HEAD = 9  # "xxxxxxxx " (CRC and a space) before the checksummed part


def _path(d, name, ext):
    return "%s/%s.%s" % (d, name, ext)


def encode(seq, obj):
    """The bytes of one slot file."""
    body = b"%d %s" % (seq, json.dumps(obj, separators=(",", ":")).encode())
    return b"%08x %s\n" % (binascii.crc32(body) & 0xFFFFFFFF, body)


def decode(data):
    """(seq, obj) from slot bytes; raises ValueError naming what is wrong."""
    if len(data) > _MAX_BYTES:
        raise ValueError("too long")
    if len(data) < _HEAD + 3 or data[-1:] != b"\n" or data[_HEAD - 1:_HEAD] != b" ":
        raise ValueError("truncated")
    body = data[_HEAD:-1]
    try:
        crc = int(data[:_HEAD - 1], 16)
    except ValueError:
        raise ValueError("no checksum")
    if crc != binascii.crc32(body) & 0xFFFFFFFF:
        raise ValueError("bad checksum")
    try:
        sp = body.index(b" ")
        seq = int(body[:sp])
        obj = json.loads(body[sp + 1:])
    except (ValueError, UnicodeError):  # a CRC collision over garbage, or a foreign writer
        raise ValueError("bad content")
    return seq, obj


def _load(d, name, slot):
    """(seq, obj, problem) of one slot; (None, None, None) when it does not exist."""
    path = _path(d, name, slot)
    try:
        size = os.stat(path)[6]
        if size > _MAX_BYTES:
            return None, None, "%s.%s: too long" % (name, slot)
        # Read exactly the file: read(n) would take an n-byte block from the heap first,
        # and a 4 KB block is what a long-fragmented heap may not have.
        with open(path, "rb") as f:
            data = f.read(size)
    except OSError:
        return None, None, None  # missing (never written yet): not a problem
    try:
        seq, obj = decode(data)
    except ValueError as e:
        return None, None, "%s.%s: %s" % (name, slot, e.args[0] if e.args else "bad")
    return seq, obj, None


def _scan(d, name):
    """[(seq, obj, problem, slot)] for both slots, newest good copy first."""
    got = [_load(d, name, s) + (s,) for s in _SLOTS]  # type: list
    # Good copies by seq, newest first; bad or missing slots after them.
    got.sort(key=lambda g: -1 if g[0] is None else g[0], reverse=True)
    return got


def read(d, name):
    """(obj or None, problem or None): the newest copy whose checksum verifies."""
    got = _scan(d, name)
    problems = [g[2] for g in got if g[2]]
    problem = ", ".join(problems) if problems else None
    best = got[0]
    if best[0] is None:
        return None, problem
    if problem:
        problem = "%s; using %s.%s (seq %d)" % (problem, name, best[3], best[0])
    return best[1], problem


def write(d, name, obj):
    """Store obj durably under name. Returns the number of bytes written to flash."""
    got = _scan(d, name)
    newest = got[0]
    seq = 1 if newest[0] is None else newest[0] + 1
    # Overwrite the slot that is not the newest good copy: the older one, or a bad one.
    target = got[1][3] if newest[0] is not None else _SLOTS[0]
    data = encode(seq, obj)
    tmp = _path(d, name, "tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, _path(d, name, target))
    return len(data)


def remove(d, name):
    """Forget a record (both slots and any leftover temp file)."""
    for ext in _SLOTS + ("tmp",):
        try:
            os.remove(_path(d, name, ext))
        except OSError:
            pass
