# The persistence the core runs with when none is given (tests, tools, benches): the same
# calls as firmware/store/persist.py's Persist, each a no-op, so the core imports only core.


class NoPersist:
    """For tests and tools that need no flash: every call is a no-op."""

    boot_no = 1

    def save(self, port):
        pass

    def put_record(self, port, kind, payload):
        pass

    def put_alarm(self, payload):
        pass

    def checkpoint(self, app, now):
        pass

    def restore(self, app):
        pass

    def nearly_full(self):
        return False
