# The load a metering chip's emulator measures (hlw8032_emu.py, bl0942_emu.py): fixed
# volts, amps and power factor (or watts), or a function of time, and the rule that a
# change of load first integrates the chip's energy up to now. A subclass sets the load
# with LoadedChip.__init__ and integrates in its own _advance(t_us).

from vclock import CLOCK


class LoadedChip:
    def __init__(self, volts, amps, watts, pf, load):
        self.volts = volts
        self.amps = amps
        self.watts = watts  # None: volts * amps * pf
        self.pf = pf
        self.load = load  # optional fn(t_us) -> (volts, amps, watts); wins over the above

    def sample(self, t_us):
        """(volts, amps, watts) of the load at t_us."""
        if self.load is not None:
            return self.load(t_us)
        w = self.watts
        if w is None:
            w = self.volts * self.amps * self.pf
        return self.volts, self.amps, w

    def set_load(self, volts=None, amps=None, watts=None, pf=None):
        """Change the load from now on (energy up to now is integrated first)."""
        self.sync()
        if volts is not None:
            self.volts = volts
        if amps is not None:
            self.amps = amps
        if pf is not None:
            self.pf = pf
        self.watts = watts

    def sync(self, t_us=None):
        """Integrate the chip's energy up to t_us (default now)."""
        self._advance(CLOCK.us if t_us is None else t_us)

    def _advance(self, t_us):
        raise NotImplementedError
