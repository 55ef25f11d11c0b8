"""On-flash outbox: outgoing records kept in order until acknowledged, power cuts included.

One append-only log, `outbox.log`, one line per event, each `<crc32 hex8> <body>\\n`:

    N <next>                     sequence floor (first line of a compacted log)
    P <n> <id> <kind> <json>     a record put (json: the payload with its "id")
    A <n>                        record n delivered (acked)
    D <n>                        record n dropped (outbox full)

A line whose checksum or newline is missing (a torn tail after a power cut, or rot) is
dropped when the log is opened and the log is compacted at once, so nothing is ever
appended after a torn line. Compaction writes `N` and the pending `P` lines, in order, to
`outbox.tmp` and renames it over the log (atomic on littlefs). Delivery is at least once:
an ack cut by a power cut leaves the record pending, and it is sent again with its id.

Bounds and policy (max_bytes counts the pending records' lines):
- `nearly_full` above 3/4 of max_bytes: the app refuses new sessions and raises an alarm.
- A put that does not fit drops the oldest pending droppable records (alarms: every kind
  but session_start/session_end), counted in `dropped`; an alarm that still does not fit
  is dropped itself (put returns None).
- Session records are never dropped. No session starts above 3/4, and at most
  MAX_SESSIONS run at once, so above 3/4 come at most 1 start + 16 ends: 17 records of
  at most `max_record` = (max_bytes / 4) / 17 bytes (963 for 64 KiB; a session_end
  line with a 32-character order id is about 320). So session records alone never pass
  max_bytes, the hard cap; a put past it (an app bug) raises OSError(ENOSPC), and a
  longer record raises ValueError.
- Flash used: the log (pending + dead lines; compacted once dead >= max(pending,
  COMPACT_MIN)) plus the compaction copy: at most 3 x max_bytes + 4 KiB.
RAM: 11 bytes of index per record in the log (arrays), payloads stay on flash.
"""

import binascii
import json
import os
from array import array

MAX_SESSIONS = 16  # ports a cabinet may have (the concurrent-session bound)
_KEPT = ("session_start", "session_end")
_GONE = 0  # index kinds: removed, kept (session), droppable (alarm)
_KEEP = 1
_DROP = 2
_COMPACT_MIN = 4096  # dead bytes before compaction is worth a rewrite (one flash block)
_LINE_MAX = 4096  # a longer "line" is garbage
_ENOSPC = 28


def _code(kind):
    return _KEEP if kind in _KEPT else _DROP


def _line(body):
    return b"%08x %s\n" % (binascii.crc32(body) & 0xFFFFFFFF, body)


def _body(line):
    """The checked body of a log line, or None when it is torn or corrupt."""
    if len(line) < 11 or line[-1:] != b"\n" or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) == binascii.crc32(body) & 0xFFFFFFFF:
            return body
    except ValueError:
        pass
    return None


class Outbox:
    """Records queued in directory d; ids are prefix + a sequence that never repeats."""

    def __init__(self, d, max_bytes=64 * 1024, prefix=""):
        self.path = d + "/outbox.log"
        self.tmp = d + "/outbox.tmp"
        self.max_bytes = max_bytes
        self.max_record = max_bytes // 4 // (MAX_SESSIONS + 1)
        if " " in prefix:
            raise ValueError("outbox prefix: %r" % (prefix,))
        self.prefix = prefix  # id = prefix + sequence number; keep it fixed per cabinet
        self.dropped = 0  # droppable records dropped for room (since open)
        self.writes = 0
        self.bytes_written = 0
        self.problems = []  # what open() found wrong, for an alarm
        self._open()

    # --- the index: one entry per P line in the log ---
    def _reset(self):
        self.seqs = array("i")
        self.offs = array("i")
        self.lens = array("H")
        self.kinds = bytearray()
        self.head = 0  # first entry not removed
        self.next_n = 1
        self.live = 0  # bytes of the pending records' lines
        self.count = 0  # pending records
        self.file_bytes = 0
        self._peeked = None

    def _add(self, n, off, size, code):
        self.seqs.append(n)
        self.offs.append(off)
        self.lens.append(size)
        self.kinds.append(code)
        self.live += size
        self.count += 1
        if n >= self.next_n:
            self.next_n = n + 1

    def _forget(self, i):
        if self.kinds[i] != _GONE:
            self.kinds[i] = _GONE
            self.live -= self.lens[i]
            self.count -= 1
        k = self.kinds
        while self.head < len(k) and k[self.head] == _GONE:
            self.head += 1
        self._peeked = None

    def _find(self, n):
        for i in range(self.head, len(self.seqs)):
            if self.seqs[i] == n and self.kinds[i] != _GONE:
                return i
        return -1

    # --- flash ---
    def _open(self):
        self._reset()
        try:
            os.stat(self.path)
        except OSError:
            return  # no log yet
        with open(self.path, "rb") as f:
            bad, torn = self._scan(f)
        try:
            os.remove(self.tmp)  # a compaction cut by the power: the log is intact
        except OSError:
            pass
        if bad:
            self.problems.append("outbox.log: dropped %d bad line(s)%s"
                                 % (bad, " (torn tail)" if torn else ""))
            self._compact()
        else:
            self._maybe_compact()

    def _scan(self, f):
        """Rebuild the index from the log; (bad lines, last line bad)."""
        bad = 0
        torn = False
        off = 0
        while True:
            line = f.readline(_LINE_MAX)
            if not line:
                break
            body = _body(line)
            torn = body is None
            if torn or not self._replay(body, off, len(line)):
                bad += 1
            off += len(line)
        self.file_bytes = off
        return bad, torn

    def _replay(self, body, off, size):
        try:
            tag = body[:1]
            if tag == b"P":
                parts = body.split(b" ", 4)
                self._add(int(parts[1]), off, size, _code(parts[3].decode()))
            elif tag == b"A" or tag == b"D":
                i = self._find(int(body[2:]))
                if i >= 0:
                    self._forget(i)
            elif tag == b"N":
                self.next_n = max(self.next_n, int(body[2:]))
            else:
                return False
        except (ValueError, IndexError, UnicodeError):
            return False
        return True

    def _append(self, line):
        with open(self.path, "ab") as f:
            f.write(line)
        self.file_bytes += len(line)
        self.writes += 1
        self.bytes_written += len(line)

    def _read_line(self, f, i):
        f.seek(self.offs[i])
        return f.read(self.lens[i])

    def _compact(self):
        """Rewrite the log with only the pending records, in order, a line at a time."""
        n_next = self.next_n
        head = _line(b"N %d" % n_next)
        keep = [i for i in range(self.head, len(self.seqs)) if self.kinds[i] != _GONE]
        with open(self.tmp, "wb") as out:
            out.write(head)
            if keep:
                with open(self.path, "rb") as f:
                    for i in keep:
                        out.write(self._read_line(f, i))
        os.rename(self.tmp, self.path)
        seqs, lens, kinds = self.seqs, self.lens, self.kinds
        self._reset()
        self.next_n = n_next
        off = len(head)
        for i in keep:
            self._add(seqs[i], off, lens[i], kinds[i])
            off += lens[i]
        self.file_bytes = off
        self.writes += 1
        self.bytes_written += off

    def _maybe_compact(self):
        dead = self.file_bytes - self.live
        if dead >= _COMPACT_MIN and dead >= self.live:
            self._compact()

    def _remove(self, i, tag):
        self._append(_line(b"%s %d" % (tag, self.seqs[i])))
        self._forget(i)

    # --- the API ---
    def put(self, kind, payload):
        """Queue a record; returns its id (payload["id"] is set to it when missing),
        or None when it is a droppable record that does not fit."""
        if not kind or " " in kind:
            raise ValueError("outbox kind: %r" % (kind,))
        n = self.next_n
        rid = "%s%d" % (self.prefix, n)
        if "id" not in payload:
            payload["id"] = rid
        js = json.dumps(payload, separators=(",", ":")).encode()
        line = _line(b"P %d %s %s %s" % (n, rid.encode(), kind.encode(), js))
        size = len(line)
        if size > self.max_record:
            raise ValueError("outbox record of %d bytes > %d" % (size, self.max_record))
        while self.live + size > self.max_bytes:
            i = self.head
            while i < len(self.kinds) and self.kinds[i] != _DROP:
                i += 1
            if i == len(self.kinds):
                break
            self._remove(i, b"D")
            self.dropped += 1
        self._maybe_compact()  # an alarm storm while full makes dead lines too
        if self.live + size > self.max_bytes:
            if kind not in _KEPT:
                self.dropped += 1
                return None
            raise OSError(_ENOSPC, "outbox full")  # unreachable, see the docstring
        self._append(line)
        self._add(n, self.file_bytes - size, size, _code(kind))
        return rid

    def peek(self):
        """(id, kind, payload_bytes) of the oldest pending record, or None."""
        while self._peeked is None and self.head < len(self.seqs):
            with open(self.path, "rb") as f:
                body = _body(self._read_line(f, self.head))
            if body is None:  # changed on flash since it was read: lost
                self.problems.append("outbox.log: record %d unreadable" % self.seqs[self.head])
                self._remove(self.head, b"D")
                continue
            parts = body.split(b" ", 4)
            self._peeked = (parts[2].decode(), parts[3].decode(), parts[4])
        return self._peeked

    def ack(self, rid):
        """Remove the oldest pending record if its id is rid; False (no-op) otherwise."""
        h = self.peek()
        if h is None or h[0] != rid:
            return False
        self._remove(self.head, b"A")
        self._maybe_compact()
        return True

    @property
    def pending(self):
        return self.count

    @property
    def bytes_used(self):
        return self.live

    @property
    def nearly_full(self):
        return self.live > self.max_bytes * 3 // 4
