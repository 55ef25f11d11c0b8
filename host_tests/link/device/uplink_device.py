# The device side of host_tests/link/test_uplink_mqtt.py, run by the MicroPython unix port
# (the test writes mpy.PRELUDE + this file next to a JSON config, argv[1]): the uplink with
# an outbox stub, a counting select.poll and a control tick that measures how long the link
# kept it waiting. Prints JSON lines: up/down/retry/cmd/ack/app_error events and "end".
import json
import select as _select
import sys
import time

WAIT = [0]  # socket wait time (ms) the link asked for since the last control tick

class _Poll:  # select.poll as the link sees it: each wait's timeout is counted
    def __init__(self):
        self.p = _select.poll()
    def register(self, *a):
        self.p.register(*a)
    def modify(self, *a):
        self.p.modify(*a)
    def unregister(self, *a):
        self.p.unregister(*a)
    def ipoll(self, t=-1, *a):
        for ev in self.p.ipoll(t, *a):
            return (ev,)  # an event ended the wait
        WAIT[0] += t if t >= 0 else 1000000  # no event: it waited its whole timeout
        return ()
    def poll(self, t=-1):
        evs = self.p.poll(t)
        if not evs:
            WAIT[0] += t if t >= 0 else 1000000
        return evs

class _Select:
    POLLIN = _select.POLLIN
    POLLOUT = _select.POLLOUT
    POLLERR = _select.POLLERR
    POLLHUP = _select.POLLHUP
    poll = _Poll

sys.modules["select"] = _Select  # pyright: ignore[reportArgumentType] - a class as module
SCHED = open("/proc/self/schedstat", "rb")  # on-CPU ns, runnable-but-waiting ns, slices

def runq_ns():
    SCHED.seek(0)
    return int(SCHED.read().split()[1])

from firmware.link.uplink import Uplink  # noqa: E402 - after select is replaced

CFG = json.loads(open(sys.argv[1]).read())

class Box:  # the outbox contract: peek() -> (id, kind, payload) or None; ack(id)
    # Records are made on demand (70 000 stored ones would not fit the unix port's heap).
    def __init__(self):
        self.n = 0  # records added
        self.acked = 0  # records acked: the head is record `acked`
        self.in_order = True
        self.head = None
    def add(self):
        self.n += 1
    def peek(self):
        if self.acked >= self.n:
            return None
        i = self.acked
        if self.head is None or self.head[0] != i:
            kind = KINDS[i % len(KINDS)]
            self.head = (i, kind, b'{"id":%d,"pad":"%s"}' % (i, "x" * CFG.get("pad", 40)))
        return self.head
    def ack(self, rid):
        if rid != self.acked:
            self.in_order = False
        self.acked += 1
        if CFG.get("log_acks"):
            print(json.dumps({"ev": "ack", "id": rid, "t": time.ticks_diff(time.ticks_ms(), T0)}))

T0 = time.ticks_ms()
KINDS = CFG.get("kinds", ["session_end"])
box = Box()
box.n = CFG.get("records", 0)
st = {"last": T0, "gap": 0, "ticks": 0, "gap_up": 0, "wall_gap": 0, "wait": 0,
      "rq": runq_ns()}

def tick():  # the control tick: here it only measures how long it was kept waiting
    now = time.ticks_ms()
    g = time.ticks_diff(now, st["last"])
    rq = runq_ns()
    blocked = g - (rq - st["rq"]) // 1000000  # less the wait for a CPU
    st["rq"] = rq
    if blocked > st["gap"]:
        st["gap"] = blocked
    if g > st["wall_gap"]:
        st["wall_gap"] = g
    if WAIT[0] > st["wait"]:
        st["wait"] = WAIT[0]
    WAIT[0] = 0
    st["last"] = now
    st["ticks"] += 1
    if CFG.get("reenter"):
        up.step()  # a careless app: must be a no-op inside the link


def on_command(payload, too_large):
    if payload == b"boom":
        raise ValueError("app bug")
    print(json.dumps({"ev": "cmd", "too_large": too_large,
                      "payload": None if payload is None else bytes(payload).decode()}))

opts = CFG["opts"]
if "cadata" in opts:
    opts["cadata"] = opts["cadata"].encode()
resolver = None
if CFG.get("dns_port"):
    from firmware.link.dns import Resolver
    resolver = Resolver("127.0.0.1", time, port=CFG["dns_port"]).lookup
up = Uplink(opts, time, box, on_command, tick, birth=CFG.get("birth", '{"online": true}').encode(),
            resolver=resolver)
was = False
feed = CFG.get("feed_every_ms")
next_feed = T0
pub_t0 = None
sent_tm = 0
status_set = False
st["last"] = time.ticks_ms()  # gaps count from here: building the outbox is not the link
st["rq"] = runq_ns()
WAIT[0] = 0
next_try = up.next_try
while True:
    try:
        up.step()
    except ValueError as e:  # the app's own exception comes out of step()
        print(json.dumps({"ev": "app_error", "err": repr(e)}))
    tick()
    now = time.ticks_ms()
    t = time.ticks_diff(now, T0)
    if up.next_try != next_try:  # a reconnect scheduled: the backoff the link chose
        next_try = up.next_try
        print(json.dumps({"ev": "retry", "t": t, "delay_ms": time.ticks_diff(next_try, now)}))
    if up.connected != was:
        was = up.connected
        print(json.dumps({"ev": "up" if was else "down", "t": t, "err": up.last_error}))
    if up.connected and pub_t0 is None:
        pub_t0 = now
    if CFG.get("telemetry_every_ms") and t >= CFG["telemetry_every_ms"] * (sent_tm + 1):
        sent_tm += up.send_telemetry(b'{"n":%d}' % sent_tm)
    if CFG.get("status_at_ms") and t >= CFG["status_at_ms"] and not status_set:
        up.set_status(b'{"online": true, "v": 2}')
        status_set = True
    if feed and box.n < CFG["feed_total"] and time.ticks_diff(now, next_feed) >= 0:
        box.add()
        next_feed = time.ticks_add(next_feed, feed)
    total = CFG.get("feed_total", CFG.get("records", 0))
    if CFG.get("exit_when_acked") and box.acked >= total:
        break
    if t > CFG["duration_ms"]:
        break
    if CFG.get("sleep_ms"):
        time.sleep_ms(CFG["sleep_ms"])
if CFG.get("close_at_end"):
    up.close()
print(json.dumps({"ev": "end", "t": time.ticks_diff(time.ticks_ms(), T0),
                  "flush_ms": time.ticks_diff(time.ticks_ms(), pub_t0) if pub_t0 else None,
                  "max_gap_ms": st["gap"], "max_wall_gap_ms": st["wall_gap"],
                  "max_wait_ms": st["wait"], "ticks": st["ticks"], "acked": box.acked,
                  "left": box.n - box.acked, "in_order": box.in_order, "connects": up.connects,
                  "drops": up.drops, "tx": up.tx_bytes, "rx": up.rx_bytes,
                  "too_large": up.too_large_count, "err": up.last_error}))
