# 74HC4067 on a UART's RX line (and a second one on its TX line), for the virtual board.
#
# The channel is the binary value of the select pins (S0 first). The model watches those
# output pins and is itself the UART's source, delegating to the selected channel's
# source (an HLW8032Emu, say). Before a switch it pumps its UARTs, so bytes that came in
# before the switch land from the old channel; a byte whose start bit was on the wire
# before the switch is lost. Two multiplexers may watch the same select pins.
# TX: bytes the UART writes go to the channel selected when they are written (the TX
# multiplexer shares the select lines, so it is modelled here too): a chip that must be
# asked (BL0942Emu.tx_bytes) hears the request; a streaming chip ignores it.
#
#   mux = RxMux((25, 26, 27, 14), [emu0, emu1, ...], uart)

import machine
from vclock import CLOCK


class RxMux:
    def __init__(self, select_pins, sources=(), uart=None):
        self.select = tuple(getattr(p, "id", p) for p in select_pins)
        self.sources = [None] * (1 << len(self.select))
        for ch, src in enumerate(sources):
            self.sources[ch] = src
        self.uarts = []
        self.channel = self._read_channel()
        self.switches = 0
        self._switch_us = None
        for pid in self.select:
            machine.Pin.watch(pid, self._on_pin)
        if uart is not None:
            self.attach(uart)

    def attach(self, uart):
        """Make this multiplexer the UART's receive source."""
        self.uarts.append(uart)
        uart.source = self

    def connect(self, channel, source):
        """Put a source (or None: line idle) on a channel."""
        for u in self.uarts:
            u._pump()
        self.sources[channel] = source

    def _read_channel(self):
        ch = 0
        for i, pid in enumerate(self.select):
            ch |= machine.Pin.level(pid) << i
        return ch

    def _on_pin(self, pid, level):
        for u in self.uarts:
            u._pump()  # what arrived so far came through the old channel
        ch = self._read_channel()
        if ch != self.channel:
            self.channel = ch
            self.switches += 1
            self._switch_us = CLOCK.us

    def tx_bytes(self, data, t0_us, uart):
        src = self.sources[self.channel]
        if src is not None and hasattr(src, "tx_bytes"):
            src.tx_bytes(data, t0_us, uart)

    def bytes_between(self, t0_us, t1_us, uart, out):
        src = self.sources[self.channel]
        if src is None:
            return
        if self._switch_us is not None:
            # only bytes whose start bit came after the switch
            t0_us = max(t0_us, self._switch_us + uart.byte_us)
        if t1_us > t0_us:
            src.bytes_between(t0_us, t1_us, uart, out)
