# Safe mode's stand-in for the app: every relay off, no meter, no session, no journal.
#
# bootguard.py decides safe mode (crash loop or service button). The crash may be in the
# app, the journal or a driver, so safe mode builds none of them: main.SafeMode runs the
# network (link, NTP, uplink) around this object and the real firmware/cloud.Cloud, so
# the `safe_mode` alarm leaves and signed commands are taken:
#   status  the retained status and a full telemetry (every port "fault")
#   unlock  (any valid port) clears the boot guard: the next boot runs normally
#   reboot  planned restart (not counted as a crash)
#   time, cards, config  as usual (config takes effect at the next boot)
#   start   refused (port_fault); stop: bad_args (no session); estop: ok (relays are off)

from firmware.core import codes
from firmware.protocol.cloud import Cloud


class SafeApp:
    safe = True

    def __init__(self, board, cfg, outbox, boot_no, on_unlock, why, wall):
        self.board = board
        self.cfg = cfg
        self.clock = board.clock
        self.n = cfg["ports"]
        self.boot_no = boot_no
        self.outbox = outbox
        self.on_unlock = on_unlock  # on_unlock(): clear the boot guard
        self.tariff = None
        self.unlocked = False
        self.why = why  # what put the cabinet in safe mode (bootguard.safe_mode)
        self.wall = wall  # wallclock.WallClock
        self.tag = wall.tag  # tag(payload) before a record is kept
        board.relays.all_off()

    def start(self, p, kind, limit, order=None, offpeak=False, tariff=None):
        return codes.E_PORT_FAULT

    def stop(self, p, reason):
        return codes.E_BAD_ARGS

    def estop(self):
        self.board.relays.all_off()

    def unlock(self, p):
        if not self.unlocked:
            self.unlocked = True
            self.on_unlock()
        return None

    # The app's read-only views (firmware/core/app.py), for the protocol.
    def port_power_w(self, p):
        return 0

    def port_state(self, p):
        return codes.FAULT

    def session(self, p):
        return None

    def busy(self):
        return False

    def settled(self, now, settle_ms):
        return True  # every relay was opened at boot

    def critical_alarm(self):
        return None

    def configure(self, cfg, keys):
        pass  # nothing runs: a config takes effect at the next boot

    def raise_alarm(self, code, port, level, value=None):
        payload = {"code": code, "port": port, "level": level, "state": codes.RAISED,
                   "value": value, "t": self.clock.time()}
        if self.tag is not None:
            self.tag(payload)
        self.outbox.put("alarm", payload)


class SafeCloud(Cloud):
    def reboot_due(self):
        """Every relay is off in safe mode: only the reply must be out first."""
        if not self.reboot_requested:
            return False
        up = self.uplink
        return up is None or not up.connected or not up.lane
