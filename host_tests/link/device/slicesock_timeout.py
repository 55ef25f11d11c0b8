# The device side of host_tests/link/test_umqtt_versions.py (unix port): SliceSock after
# umqtt.simple >= 1.5's settimeout(None) still reads in slices and times out at the link's
# deadline. argv[1]: the port of a server that accepts and never answers. Prints
# "ERR <timed out> <waited ms> <idle calls>" (or READ if a read came back).
import errno
import socket
import sys
import time

from firmware.link.slicesock import SliceSock

PORT = int(sys.argv[1])


class Link:
    clock = time
    slice_ms = 20
    server_hostname = None
    def __init__(self):
        self.deadline = time.ticks_add(time.ticks_ms(), 400)
        self.idles = 0
    def idle_due(self):
        self.idles += 1
    def ssl_ctx(self):
        return None
    def got(self, n):
        pass
    def sent(self, n):
        pass

link = Link()
raw = socket.socket()
s = SliceSock(link, raw)
s.settimeout(None)          # umqtt.simple >= 1.5, before connect
s.connect(socket.getaddrinfo("127.0.0.1", PORT)[0][-1])
t0 = time.ticks_ms()
try:
    s.read(4)               # CONNACK that never comes
    print("READ")
except OSError as e:
    print("ERR", e.args[0] == errno.ETIMEDOUT, time.ticks_diff(time.ticks_ms(), t0), link.idles)
s.close()
