# Power-loss safety glue between the app, the journal and the outbox.
#
# Order of writes, so that a cut at any instant loses nothing and doubles nothing:
# - a record (session_start, session_end) is first written into the port's journal
#   record as "pending", then queued in the outbox; the port's next journal write drops
#   it. After a cut, pending records are queued again under the same id (at-least-once;
#   the server de-duplicates by id).
# - a session's state, charge time, energy and bill go to the journal on every state
#   change and every checkpoint_s while charging; a cut loses at most one checkpoint of
#   charge time and energy, never billed (the customer's gain, never a double charge).
# - on boot every port is restored from the journal before any relay may close.

from firmware.core import codes
from firmware.store import journal as journal_mod

_LIVE = (codes.OPEN, codes.CHARGING, codes.FLOAT)


class NoPersist:
    """For tests and tools that need no flash: every call is a no-op."""

    boot_no = 1

    def save(self, app, p):
        pass

    def put_record(self, app, p, kind, payload):
        pass

    def put_alarm(self, payload):
        pass

    def checkpoint(self, app, now):
        pass

    def restore(self, app):
        pass

    def nearly_full(self):
        return False


class Persist:
    def __init__(self, journal, outbox, tag=None):
        self.journal = journal
        self.outbox = outbox
        self.boot_no = journal.next_boot()
        self.pend = [None] * journal.n  # record pending on each port, until the next save
        self.tag = tag  # tag(payload) before a record is kept (wallclock.WallClock.tag)

    def save(self, app, p):
        rec = journal_mod.record(app.state[p], app.lock_reason[p], app.sessions[p],
                                 app.last_e[p], app.resume_state[p])
        pend = self.pend[p]
        rec["pend"] = [pend] if pend is not None else []
        self.journal.save(p, rec)

    def put_record(self, app, p, kind, payload):
        if self.tag is not None:
            self.tag(payload)
        self.pend[p] = [kind, payload]
        self.save(app, p)  # durable as pending first ...
        self.outbox.put(kind, payload)  # ... then queued; the port's next save drops it
        self.pend[p] = None

    def put_alarm(self, payload):
        if self.tag is not None:
            self.tag(payload)
        self.outbox.put("alarm", payload)  # may be dropped when the outbox is full

    def nearly_full(self):
        return self.outbox.nearly_full

    def checkpoint(self, app, now):
        """Save each charging port whose last save is checkpoint_s old."""
        j = self.journal
        for p in range(app.n):
            if app.relay_on[p] and app.sessions[p] is not None and j.due(p, now, True):
                self.save(app, p)

    def restore(self, app):
        """Bring every port back from the journal. Called before any relay may close."""
        recs, problems = self.journal.load()
        for problem in problems + self.outbox.problems:
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, problem)
        if self.journal.boot_problem:
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, self.journal.boot_problem)
        resume = app.cfg["resume_after_power_loss"]
        for p in range(app.n):
            rec = recs[p]
            if rec is None:
                continue
            for kind, payload in rec.get("pend") or ():
                self.outbox.put(kind, payload)  # may already be queued: same id
            lock = rec.get("lock")
            s = journal_mod.restore_session(rec, p, _tariff(app, rec))
            if lock:
                app.state[p] = codes.LOCKED
                app.lock_reason[p] = lock
            if s is None:
                self.save(app, p)
                continue
            app.sessions[p] = s
            st = rec["state"]
            app.resume_state[p] = st if st in _LIVE else (rec.get("resume") or codes.OPEN)
            app.judges[p].reset(app.last_e[p])
            if st == codes.FLOAT or app.resume_state[p] == codes.FLOAT:
                app.judges[p].loaded = True
                app.judges[p].float_ms = 0  # judged full before the cut: float again
            if lock or not resume:
                app.end(p, codes.POWER_LOSS)
            else:
                app.state[p] = codes.DEFERRED  # resumes after the boot hold, staggered
                self.save(app, p)


def _tariff(app, rec):
    """The prices a journaled session was started with (its own, or the cabinet's)."""
    spec = (rec.get("session") or {}).get("tariff")
    if spec:
        try:
            return app.tariff_for(spec)
        except (ValueError, TypeError, OverflowError):
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, "journal: bad session tariff")
    return app.tariff
