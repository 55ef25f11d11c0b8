"""umqtt.simple 1.3.4 .. 1.7 on the MicroPython unix port: what differs between them and
how the firmware's client copes. PyPI carries 1.3.4 (the version make deps pins); the
later ones come with MicroPython's own index or frozen into its ESP32 images, where they
are found before lib/. Their connect() differs in one call the firmware sees: from 1.5 on
it calls `sock.settimeout(timeout)` (None by default: "block forever") before
`sock.connect(addr)`, and takes `ssl` as an SSLContext. Our client hands umqtt a
SliceSock (firmware/link/slicesock.py) and keeps umqtt's ssl off (TLS belongs to the socket).

This test drives SliceSock the way 1.5+ does, against a listener that accepts and then
never answers (a broker that hangs): after settimeout(None) a read must still end at the
link's deadline with ETIMEDOUT, with the control tick (idle_due) running in every slice,
not block the controller.
"""

import os
import socket
import threading

from mpy import run_script

CODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "device", "slicesock_timeout.py")


def test_settimeout_none_does_not_make_the_socket_block():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    held = []
    t = threading.Thread(target=lambda: held.append(srv.accept()[0]), daemon=True)
    t.start()
    try:
        out = run_script(CODE, args=(port,), timeout_s=30).split()
    finally:
        t.join(5)
        for c in held:
            c.close()
        srv.close()
    assert out[0] == "ERR" and out[1] == "True", out
    waited_ms, idles = int(out[2]), int(out[3])
    assert waited_ms <= 1000, waited_ms  # the 400 ms deadline (after connect), not forever
    assert idles >= 5, idles  # the control tick ran in the slices while it waited
