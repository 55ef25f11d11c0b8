# HLW8032 driver figures on the MicroPython unix port; prints `name value unit` lines.
#
#   .venv/bin/micropython tools/bench/bench_hlw.py      (from the repo root)
#
# hlw_frames_per_s          StreamReader.feed + decode_into over a clean frame stream
# hlw_heap_bytes_per_frame  heap allocated per decoded frame in steady state (gc off)
# hlw_decode_into_per_s     decode_into alone
# naive_hlw_frames_per_s    baseline: the way a first port reads it, bytes appended to a
# naive_hlw_heap_bytes_per_frame  buffer, a 24-byte slice per candidate and decode()'s tuple
#                           of floats per frame
# hlw_poll_heap_bytes       MeterScanner.poll heap per call (10 ports, replay UARTs)
# hlw_poll_us               MeterScanner.poll wall time per call on this host
# hlw_sweep_ms_1_uart       10-port sweep, one UART (virtual 4800 8E1 timing, 10 ms ticks)
# hlw_sweep_ms_2_uarts      the same on two UARTs
import sys

sys.path[:0] = ["tools/sim", ".", "lib"]

import gc
import time

import machine
from hlw8032_emu import HLW8032Emu, ReplayUart, make_frame
from rxmux import RxMux
from vclock import CLOCK

from drivers import hlw8032 as h
from drivers.meterscan import MeterScanner

SELECT = (25, 26, 27, 14)


def stream(n):
    b = bytearray()
    for k in range(n):
        b.extend(make_frame(220.0 + k * 0.1, 0.5 + k * 0.05, pf=0.9, pf_total=k * 9))
    return b


def bench_reader(data, rounds):
    r = h.StreamReader()
    r.feed(data)  # warm up
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    f0 = r.frames
    t0 = time.ticks_us()
    for _ in range(rounds):
        r.feed(data)
    us = time.ticks_diff(time.ticks_us(), t0)
    heap = gc.mem_alloc() - m0
    gc.enable()
    n = r.frames - f0
    assert n == rounds * len(data) // 24 and r.checksum_errors == 0
    return n * 1000000 // us, heap / n


def bench_naive(data, rounds):
    """Baseline: append what the UART gave, slice each candidate frame, decode() it."""
    buf = b""
    n = 0
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(rounds):
        buf += data
        i = 0
        while len(buf) - i >= 24:
            if buf[i + 1] == 0x5A and h.decode(buf[i:i + 24]) is not None:
                n += 1
                i += 24
            else:
                i += 1
        buf = buf[i:]
    us = time.ticks_diff(time.ticks_us(), t0)
    heap = gc.mem_alloc() - m0
    gc.enable()
    assert n == rounds * len(data) // 24
    return n * 1000000 // us, heap / n


def bench_decode(frame, rounds):
    out = h.new_out()
    t0 = time.ticks_us()
    for _ in range(rounds):
        h.decode_into(frame, 0, out)
    return rounds * 1000000 // time.ticks_diff(time.ticks_us(), t0)


def bench_poll(data, polls):
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
    uarts = [ReplayUart(data), ReplayUart(data[101:] + data[:101])]
    sc = MeterScanner(uarts, pins, 10, CLOCK)
    for _ in range(300):
        CLOCK.us += 10000
        sc.poll()
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(polls):
        CLOCK.us += 10000
        sc.poll()
    us = time.ticks_diff(time.ticks_us(), t0)
    heap = gc.mem_alloc() - m0
    gc.enable()
    return heap / polls, us / polls


def sweep_ms(uarts, seconds=20):
    machine.reset_board()
    pins = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT]
    us = [machine.UART(1 + i, baudrate=4800, bits=8, parity=0, stop=1, tx=(17, 4)[i],
                       rx=(16, 12)[i], rxbuf=256)
          for i in range(uarts)]
    x = 12345
    emus = []
    for _ in range(10):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        emus.append(HLW8032Emu(volts=230.0, amps=3.0, phase_us=(x >> 8) % 55000))
    for u in range(uarts):
        RxMux(SELECT, emus[u::uarts], us[u])
    sc = MeterScanner(us, pins, 10, CLOCK)
    while sc.sweeps == 0:
        CLOCK.advance_ms(10)
        sc.poll()
    t0 = CLOCK.us
    n0 = sc.sweeps
    while CLOCK.us - t0 < seconds * 1000000 or sc.sweeps == n0:
        CLOCK.advance_ms(10)
        n = sc.sweeps
        sc.poll()
        if sc.sweeps != n:
            t1 = CLOCK.us
    return (t1 - t0) // 1000 // (sc.sweeps - n0)


def main():
    data = stream(100)
    fps, heap = bench_reader(data, 40)
    print("hlw_frames_per_s", fps, "frames/s")
    print("hlw_heap_bytes_per_frame", f"{heap:.2f}", "B/frame")
    print("hlw_decode_into_per_s", bench_decode(bytes(data[:24]), 20000), "frames/s")
    fps, heap = bench_naive(bytes(data), 10)
    print("naive_hlw_frames_per_s", fps, "frames/s")
    print("naive_hlw_heap_bytes_per_frame", f"{heap:.2f}", "B/frame")
    heap, us = bench_poll(data, 2000)
    print("hlw_poll_heap_bytes", f"{heap:.2f}", "B/poll")
    print("hlw_poll_us", f"{us:.1f}", "us")
    print("hlw_sweep_ms_1_uart", sweep_ms(1), "ms")
    print("hlw_sweep_ms_2_uarts", sweep_ms(2), "ms")


main()
