# Virtual time for the simulator and host tests (MicroPython and CPython).
#
# One clock object carries the MicroPython `time` API the firmware uses (ticks_ms,
# ticks_us, ticks_diff, ticks_add, sleep_ms, time) on virtual microseconds. Ticks wrap at
# 2**30 like the ESP32's, and start 600 000 ms before the wrap so every run crosses it
# in its eleventh virtual minute.

_PERIOD = 1 << 30
_HALF = 1 << 29
_MASK = _PERIOD - 1
START_TICKS_MS = _PERIOD - 600000
START_EPOCH = 1764201600  # 2025-11-27 00:00 UTC, the contract's example
EPOCH_2024 = 1704067200  # 2024-01-01 00:00 UTC: the base of since2024_s()
RTC_POWER_UP = 946684800  # 2000-01-01 00:00 UTC: the ESP32 RTC after a power-up (no battery)


class VClock:
    def __init__(self, start_epoch=START_EPOCH, start_ticks_ms=START_TICKS_MS):
        self.us = 0  # virtual microseconds since the start (monotonic, unbounded)
        self.t0_ms = start_ticks_ms
        self.epoch0 = start_epoch
        self.epoch_set = True  # the wall clock is known (the firmware may be told otherwise)
        self.world0 = start_epoch  # the world's true time at us = 0 (power cuts leave it)

    # --- the MicroPython time API ---
    def ticks_ms(self):
        return (self.t0_ms + self.us // 1000) & _MASK

    def ticks_us(self):
        return (self.t0_ms * 1000 + self.us) & _MASK

    @staticmethod
    def ticks_diff(a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    @staticmethod
    def ticks_add(a, delta):
        return (a + delta) & _MASK

    def sleep_ms(self, ms):
        if ms > 0:
            self.us += ms * 1000

    def sleep_us(self, us):
        if us > 0:
            self.us += us

    def sleep(self, s):
        self.us += int(s * 1000000)

    def time(self):
        """Wall clock, Unix epoch seconds (int)."""
        return self.epoch0 + self.us // 1000000

    def since2024_s(self):
        """Seconds since 2024-01-01 UTC (drivers/cabinet.py Clock.since2024_s)."""
        return (self.epoch0 - EPOCH_2024) + self.us // 1000000

    # --- simulator control ---
    def start(self, epoch):
        """A fresh run: virtual time 0, the RTC and the world both at `epoch`."""
        self.us = 0
        self.t0_ms = START_TICKS_MS
        self.epoch0 = self.world0 = epoch

    def power_up(self):
        """Mains back: ticks restart at START_TICKS_MS and the RTC at 2000-01-01 (no
        battery); the world's time (world_time) carries on."""
        self.t0_ms = (START_TICKS_MS - self.us // 1000) & _MASK
        self.epoch0 = RTC_POWER_UP - self.us // 1000000

    def world_time(self):
        """The true Unix time in the world around the cabinet (an NTP server's answer)."""
        return self.world0 + self.us // 1000000

    def advance_us(self, us):
        self.us += us

    def advance_ms(self, ms):
        self.us += ms * 1000

    def seconds(self):
        """Virtual seconds since the start, as a float (event log `t`)."""
        return self.us / 1000000


# The clock the fake `machine` module runs on. Tests and the simulator may replace its
# state (CLOCK.us = 0) but keep the object, which drivers and fakes hold references to.
CLOCK = VClock()
