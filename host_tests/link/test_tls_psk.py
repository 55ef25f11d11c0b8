"""TLS-PSK to a real mosquitto: the uplink's TLS without a certificate handshake.

A certificate handshake runs the ECDHE key exchange and the signature checks inside one
mbedtls call (a few hundred ms of CPU on the ESP32, once per connect: it cannot be
sliced). With `mqtt_psk_key` the handshake is symmetric crypto only. These tests prove
the PSK path end to end (the key reaches mbedtls, a wrong key is refused) and print the
longest gap between two control ticks for both handshakes on this machine (wall clock,
a figure, not asserted: this machine is shared).
"""

import os
import socket
import subprocess
import time

import pytest
from mqttkit import MOSQUITTO, free_port
from test_uplink_mqtt import Device, _make_ca, _make_server, opts

KEY = "5e3a9c0f12ab44d08e61f7c2a9b05d13"  # 16 bytes, hex


@pytest.fixture
def psk_broker(tmp_path):
    port = free_port()
    (tmp_path / "psk.txt").write_text("sim-001:%s\n" % KEY)
    conf = tmp_path / "psk.conf"
    conf.write_text("\n".join([
        "listener %d 127.0.0.1" % port, "allow_anonymous true", "log_dest stderr",
        "log_type error", "user root" if os.getuid() == 0 else "",
        "psk_hint cabinets", "psk_file %s" % (tmp_path / "psk.txt"),
        "persistence false", ""]))
    p = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    end = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert time.time() < end, p.stderr.read()
            time.sleep(0.05)
    yield port
    p.terminate()
    p.wait(10)


def _run(port, **kw):
    dev = Device({"opts": opts(port, tls=True, **kw), "records": 5,
                  "exit_when_acked": True, "duration_ms": 8000})
    try:
        return dev.end(60)
    finally:
        dev.close()


def test_tls_psk_connects_and_delivers(psk_broker):
    end = _run(psk_broker, psk_identity="sim-001", psk_key=KEY)
    assert end["connects"] == 1 and end["acked"] == 5 and end["in_order"], end
    print("\nTLS-PSK: max gap between control ticks %d ms (handshake included)"
          % end["max_gap_ms"])


def test_tls_psk_refuses_a_wrong_key(psk_broker):
    end = _run(psk_broker, psk_identity="sim-001", psk_key="00" * 16)
    assert end["connects"] == 0 and end["acked"] == 0 and end["err"], end


def test_tls_certificate_handshake_figure(tmp_path):
    from mqttkit import Mosquitto
    d = str(tmp_path)
    _make_ca(d, "ca")
    b = Mosquitto(d, tls=_make_server(d, "ca"))
    try:
        end = _run(b.port, cadata=open(os.path.join(d, "ca.pem")).read(),
                   server_hostname="localhost")
    finally:
        b.stop()
    assert end["connects"] == 1 and end["acked"] == 5, end
    print("\nTLS certificate: max gap between control ticks %d ms (handshake included)"
          % end["max_gap_ms"])
