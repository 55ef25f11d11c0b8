"""Host side of the MQTT contract tests: mosquitto, a paho "server", the simulator as a
process, and a TCP proxy that plays a dead or stalling broker.

    broker = Mosquitto(tmp)                    # own config, free loopback port
    srv = Server(broker.port)                  # validates every message it sees
    sim = SimProc(scenario, broker.port, tmp)  # micropython tools/sim/run.py --broker ...
    srv.command({"op": "start", ...})          # signed with PyJWT, like an operator server
"""

import getpass
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import jwt
import paho.mqtt.client as mqtt
from mpy import MICROPYTHON, ROOT
from schemas import check_mqtt

from firmware.system import config as config_mod

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NO_MOSQUITTO = ("mosquitto is not installed (looked in PATH and /usr/sbin): `make test` "
                "installs it (apt-get, as root); else `sudo apt-get install mosquitto`")


def need_mosquitto():
    """Fail loudly, never skip: the link tests are the only proof of the MQTT contract."""
    if not os.path.exists(MOSQUITTO):
        raise AssertionError(NO_MOSQUITTO)
ROOT_TOPIC = "ebike/sim-001"
KEY = bytes.fromhex(config_mod.TEST_KEY)
OUT_TOPICS = ("status", "telemetry", "event", "alarm", "auth", "reply")
RUN = os.path.join(ROOT, "tools", "sim", "run.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """mosquitto on a free loopback port with a generated config (TLS when certs given,
    on-disk persistence across stop()/start() with persist)."""

    def __init__(self, tmp, tls=None, persist=False):
        tmp = str(tmp)
        self.port = free_port()
        self.tmp = tmp
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                 "max_queued_messages 0", "max_inflight_messages 0",
                 "log_dest stderr", "log_type error",
                 # run as root (CI), mosquitto would drop to user "mosquitto", which cannot
                 # read the certs in the test's private tmp dir
                 "user %s" % getpass.getuser()]
        if tls:
            lines += ["cafile %s" % tls["ca"], "certfile %s" % tls["cert"],
                      "keyfile %s" % tls["key"]]
        lines.append("persistence %s" % ("true" if persist else "false"))
        if persist:
            lines.append("persistence_location %s/" % tmp)
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.p = None
        self.start()

    def start(self):
        need_mosquitto()
        self.p = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        end = time.time() + 10
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.p.kill()
        raise AssertionError("mosquitto did not start: %s" % self.p.stderr.read())

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def sign(claims, key=KEY):
    return jwt.encode(claims, key, algorithm="HS256").encode()


class Server:
    """A paho client as the operator's server: collects and validates what the cabinet
    publishes, publishes commands."""

    def __init__(self, port, client_id=None):
        self.msgs = []  # (wall time, topic kind, obj or raw, retain)
        self.q = queue.Queue()
        self.bad = []  # schema violations
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id or "srv-%s" % uuid.uuid4().hex[:8])
        self.c.on_message = self._on_message
        self.subscribed = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [(ROOT_TOPIC + "/" + k, 1) for k in OUT_TOPICS])
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"

    def _on_message(self, c, u, m):
        kind = m.topic.rsplit("/", 1)[-1]
        try:
            obj = check_mqtt(m.topic, m.payload)
        except Exception as e:  # noqa: BLE001 - recorded, asserted by the tests
            self.bad.append((m.topic, m.payload[:300], str(e)[:500]))
            obj = m.payload
        item = (time.time(), kind, obj, m.retain)
        self.msgs.append(item)
        self.q.put(item)

    def wait(self, kind, pred=lambda o: True, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                item = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if item[1] == kind and pred(item[2]):
                return item[2]
        raise AssertionError("no %s message in %s s; last: %s" % (kind, timeout,
                                                                  self.msgs[-5:]))

    def drain(self):
        """Forget what wait() has not consumed yet (it stays in msgs)."""
        while not self.q.empty():
            self.q.get_nowait()

    def of(self, kind):
        return [m[2] for m in self.msgs if m[1] == kind]

    def publish(self, payload, qos=1):
        self.c.publish(ROOT_TOPIC + "/cmd", payload, qos=qos).wait_for_publish(10)

    def command(self, claims, key=KEY, now=None, ttl=300):
        c = {"jti": uuid.uuid4().hex, "exp": int((now or time.time()) + ttl)}
        c.update(claims)
        self.publish(sign(c, key))
        return c["jti"]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def retained_status(port):
    """The retained status as a new subscriber sees it (payload bytes)."""
    return retained_message(port)[0]


def retained_message(port):
    """(payload, retain flag) of the status as a new subscriber sees it."""
    got = queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="peek-%d" % time.time_ns())
    c.on_message = lambda c_, u, m: got.put((m.payload, m.retain))
    c.connect("127.0.0.1", port)
    c.subscribe(ROOT_TOPIC + "/status", qos=1)
    c.loop_start()
    try:
        return got.get(timeout=5)
    finally:
        c.loop_stop()
        c.disconnect()


class SimProc:
    """tools/sim/run.py on the MicroPython unix port, its event log read as it grows."""

    def __init__(self, scenario, port, tmp, speed=None, link=None, name="sim"):
        self.scen = os.path.join(tmp, name + ".json")
        self.log = os.path.join(tmp, name + ".jsonl")
        with open(self.scen, "w") as f:
            json.dump(scenario, f)
        cmd = [MICROPYTHON, RUN, self.scen, "--log", self.log]
        if port is not None:
            cmd += ["--broker", "127.0.0.1:%d" % port]
        if speed:
            cmd += ["--speed", str(speed)]
        env = dict(os.environ)
        if link:
            env["SIM_LINK"] = json.dumps(link)
        open(self.log, "w").close()
        self.p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.events = []
        self._f = open(self.log)
        self._part = ""

    def poll(self):
        data = self._f.read()
        if data:
            data = self._part + data
            lines = data.split("\n")
            self._part = lines.pop()
            for line in lines:
                if line.strip():
                    self.events.append(json.loads(line))
        return self.events

    def wait(self, pred, timeout=60, what="event"):
        end = time.time() + timeout
        seen = 0
        while time.time() < end:
            self.poll()
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            if self.p.poll() is not None:
                self.poll()
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                raise AssertionError("simulator exited (%s) before %s: %s"
                                     % (self.p.returncode, what, self.p.stderr.read()[-2000:]))
            time.sleep(0.02)
        raise AssertionError("no %s in %s s; last events %s" % (what, timeout,
                                                               self.events[-5:]))

    def of(self, kind, **match):
        self.poll()
        return [e for e in self.events
                if e["ev"] == kind and all(e.get(k) == v for k, v in match.items())]

    def finish(self, timeout=120):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.poll()
        err = self.p.stderr.read()
        assert self.p.returncode == 0, err[-3000:]
        return self.events

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(timeout=10)

    def close(self):
        self.kill()
        self._f.close()


class Proxy:
    """A TCP front for the broker: "live" forwards both ways, "dead" accepts TCP and never
    answers, "stall" forwards until the link is up (CONNACK, SUBACK, birth PUBACK: 13
    bytes) and then one byte of the next packet, and nothing more. New connections take
    the mode in force; set_mode("live") also cuts the stuck ones."""

    UP_BYTES = 13

    def __init__(self, target_port, mode="dead"):
        self.target = target_port
        self.mode = mode
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.accepts = {"live": 0, "dead": 0, "stall": 0}
        self.conns = []
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def set_mode(self, mode):
        self.mode = mode
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns = []

    def _serve(self):
        self.srv.settimeout(0.1)
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            c.settimeout(None)
            mode = self.mode
            self.accepts[mode] += 1
            self.conns.append(c)
            if mode == "dead":
                threading.Thread(target=self._sink, args=(c,), daemon=True).start()
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                c.close()
                continue
            b.settimeout(None)
            self.conns.append(b)
            limit = self.UP_BYTES + 1 if mode == "stall" else None
            threading.Thread(target=self._pipe, args=(c, b, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(b, c, limit), daemon=True).start()

    @staticmethod
    def _sink(c):
        try:
            while c.recv(4096):
                pass
        except OSError:
            pass

    @staticmethod
    def _pipe(src, dst, limit):
        sent = 0
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if limit is not None:
                    data = data[:max(0, limit - sent)]
                if data:
                    dst.sendall(data)
                    sent += len(data)
        except OSError:
            pass
        if limit is None:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.set_mode("dead")
        self.srv.close()
