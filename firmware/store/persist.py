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


class Persist:
    def __init__(self, journal, outbox, tag=None):
        self.journal = journal
        self.outbox = outbox
        self.boot_no = journal.next_boot()
        self.pend = [None] * journal.n  # record pending on each port, until the next save
        self.tag = tag  # tag(payload) before a record is kept (wallclock.WallClock.tag)

    def save(self, port):
        state, lock, session, last_e, resume = port.snapshot()
        rec = journal_mod.record(state, lock, session, last_e, resume)
        p = port.p
        pend = self.pend[p]
        rec["pend"] = [pend] if pend is not None else []
        self.journal.save(p, rec)

    def put_record(self, port, kind, payload):
        if self.tag is not None:
            self.tag(payload)
        p = port.p
        self.pend[p] = [kind, payload]
        self.save(port)  # durable as pending first ...
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
        for port in app.ports:
            if port.relay_on and port.session is not None and j.due(port.p, now, True):
                self.save(port)

    def restore(self, app):
        """Bring every port back from the journal. Called before any relay may close."""
        recs, problems = self.journal.load()
        for problem in problems + self.outbox.problems:
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, problem)
        if self.journal.boot_problem:
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, self.journal.boot_problem)
        resume = app.cfg["resume_after_power_loss"]
        for port in app.ports:
            rec = recs[port.p]
            if rec is None:
                continue
            for kind, payload in rec.get("pend") or ():
                self.outbox.put(kind, payload)  # may already be queued: same id
            s = journal_mod.restore_session(rec, port.p, _tariff(app, rec))
            # As Port.snapshot() gave it; the saved energy counter was the last boot's meter.
            port.restore((rec["state"], rec.get("lock"), s, 0, rec.get("resume")), resume)


def _tariff(app, rec):
    """The prices a journaled session was started with (its own, or the cabinet's)."""
    spec = (rec.get("session") or {}).get("tariff")
    if spec:
        try:
            return app.tariff_for(spec)
        except (ValueError, TypeError, OverflowError):
            app.raise_alarm(codes.A_STORAGE, None, codes.WARNING, "journal: bad session tariff")
    return app.tariff
