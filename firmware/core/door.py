# The cabinet door: a door left open (or forced) longer than door_open_s raises the
# `door_open` warning (PROTOCOL.md, second wave); it clears when the door closes. Charging
# goes on either way: an open door is a matter for staff, not a reason to stop.
#
#   door = DoorWatch(cfg, clock, alarms)  (alarms: raise_alarm/clear_alarm, the App)
#   once a second: door.second(sensors.door_open(), now)
#
# door_open_s is LIVE (firmware/system/config.py): read from cfg at each check, so a
# `config` command applies from the next second.

from firmware.core import codes


class DoorWatch:
    def __init__(self, cfg, clock, alarms):
        self.cfg = cfg
        self.clock = clock
        self.alarms = alarms  # raise_alarm(code, port, level, value), clear_alarm(code, port)
        self.opened_ms = None  # ticks_ms when the door was seen open; None: closed
        self.raised = False

    def second(self, is_open, now):
        """Once a second, with the switch's debounced state (True: open)."""
        if not is_open:
            self.opened_ms = None
            if self.raised:
                self.raised = False
                self.alarms.clear_alarm(codes.A_DOOR_OPEN, None)
            return
        if self.opened_ms is None:
            self.opened_ms = now
            return
        if self.raised:
            return
        # the age saturates at door_open_s (ms < 2**22): no ticks wrap while it waits
        limit_ms = int(self.cfg["door_open_s"] * 1000)
        if self.clock.ticks_diff(now, self.opened_ms) >= limit_ms:
            self.raised = True
            self.alarms.raise_alarm(codes.A_DOOR_OPEN, None, codes.WARNING,
                             self.clock.ticks_diff(now, self.opened_ms) // 1000)
