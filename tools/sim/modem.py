# A cellular modem on a fake UART (machine.UART source): answers the AT dialling that
# firmware/netif.Ppp sends; then PPP is up when the fake network.PPP says so.
#
#   m = Modem(); machine.UART._sources[1] = m   # before or after the firmware opens UART 1
#   m.commands: the AT lines received;  m.fail_on = b"AT+CGDCONT" answers ERROR to it
# Replies come REPLY_MS after the command's last byte, whole.

from vclock import CLOCK

REPLY_MS = 20


class Modem:
    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.commands = []
        self.seen = 0  # bytes of uart.written consumed
        self.line = b""
        self.out = []  # [ready_us, bytes]

    def bytes_between(self, t0_us, t1_us, uart, out):
        w = uart.written
        while self.seen < len(w):
            c = w[self.seen:self.seen + 1]
            self.seen += 1
            self.line += c
            if c == b"\r":
                self._command(self.line)
                self.line = b""
        while self.out and self.out[0][0] <= t1_us:
            out.extend(self.out.pop(0)[1])

    def _command(self, cmd):
        self.commands.append(cmd)
        at = CLOCK.us + REPLY_MS * 1000
        if self.fail_on and cmd.startswith(self.fail_on):
            self.out.append([at, b"\r\nERROR\r\n"])
        elif cmd.startswith(b"ATD"):
            self.out.append([at, b"\r\nCONNECT 150000000\r\n"])
        else:
            self.out.append([at, b"\r\nOK\r\n"])
