"""A hand-stepped clock for unit tests of core and protocol parts: set `ms`, read ticks
(never wrapping) and a wall clock `epoch` + ms // 1000."""

EPOCH_2024 = 1704067200


class Clock:
    def __init__(self, epoch):
        self.ms = 0
        self.epoch = epoch

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, d):
        return a + d

    def time(self):
        return self.epoch + self.ms // 1000

    def since2024_s(self):
        return self.time() - EPOCH_2024
