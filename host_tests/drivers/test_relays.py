# Relay banks: off at construction without a glitch, commanded state, 595 bit order;
# and the relay contact model the simulator uses.
import machine
from relay_model import HC595Chain, Relay
from vclock import CLOCK

from drivers.relays import HC595Relays, PinRelays

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

PINS = (16, 17, 18, 19)
LATCH, DATA, CLK, OE = 5, 23, 22, 4


def _watch(ids):
    seen = []
    for pid in ids:
        machine.Pin.watch(pid, lambda p, v: seen.append((p, v)))
    return seen


def test_pin_relays_off_at_construction_without_glitch():
    for active_low in (False, True):
        machine.reset_board()
        seen = _watch(PINS)
        coils = [Relay.on_pin(p, active_low=active_low) for p in PINS]
        pins = [machine.Pin(p) for p in PINS]  # not yet outputs
        r = PinRelays(pins, active_low=active_low)
        off = 1 if active_low else 0
        assert all(p.mode == machine.Pin.OUT for p in pins)
        assert [machine.Pin.level(p) for p in PINS] == [off] * 4
        assert all((v == off) for _, v in seen), seen  # never driven to the on level
        assert all(c.energised == 0 for c in coils)
        assert r.mask == 0 and not any(r.get(i) for i in range(4))


def test_pin_relays_commanded_state_and_polarity():
    for active_low in (False, True):
        machine.reset_board()
        r = PinRelays([machine.Pin(p) for p in PINS], active_low=active_low)
        r.set(2, True)
        r.set(0, True)
        r.set(0, False)
        r.set(3, True)
        assert r.mask == 0b1100
        assert [r.get(i) for i in range(4)] == [False, False, True, True]
        on = 0 if active_low else 1
        assert [machine.Pin.level(p) == on for p in PINS] == [False, False, True, True]
        r.all_off()
        assert r.mask == 0
        assert [machine.Pin.level(p) == on for p in PINS] == [False] * 4


def test_set_out_of_range_raises():
    machine.reset_board()
    r = PinRelays([machine.Pin(p) for p in PINS])
    for bad in (-1, 4):
        try:
            r.set(bad, True)
        except IndexError:
            continue
        raise AssertionError(f"set({bad}) accepted")


def _chain_relays(spi_mode, n=12, active_low=False, power_on=0, oe=None):
    machine.reset_board()
    chips = (n + 7) // 8
    if spi_mode:
        chain = HC595Chain(chips, LATCH, oe_id=oe, power_on=power_on)
    else:
        chain = HC595Chain(chips, LATCH, data_id=DATA, clk_id=CLK, oe_id=oe,
                           power_on=power_on)
    coils = []
    for bit in range(n):
        c = Relay()
        chain.wire(bit, c, active_low=active_low)
        coils.append(c)
    kw = {"oe": machine.Pin(oe)} if oe is not None else {}
    if spi_mode:
        r = HC595Relays(n, machine.Pin(LATCH), spi=machine.SPI(1, baudrate=5000000),
                        active_low=active_low, **kw)
    else:
        r = HC595Relays(n, machine.Pin(LATCH), data=machine.Pin(DATA),
                        clk=machine.Pin(CLK), active_low=active_low, **kw)
    return chain, coils, r


def test_595_chain_bit_order_spi_and_bitbang():
    for spi_mode in (True, False):
        chain, coils, r = _chain_relays(spi_mode)
        assert chain.latches == 1 and chain.outputs == 0  # all off at construction
        for i in (0, 7, 8, 11):
            r.set(i, True)
            assert chain.outputs == r.mask  # relay i is chip i // 8, Q(i % 8)
        assert chain.outputs == (1 << 0) | (1 << 7) | (1 << 8) | (1 << 11)
        r.set(7, False)
        assert chain.outputs == (1 << 0) | (1 << 8) | (1 << 11)
        assert [c.coil_on() for c in coils] == [r.get(i) for i in range(12)]
        r.all_off()
        assert chain.outputs == 0 and not any(c.coil_on() for c in coils)


def test_595_active_low_inverts_outputs():
    chain, coils, r = _chain_relays(True, n=8, active_low=True)
    assert chain.outputs == 0xFF
    r.set(3, True)
    assert chain.outputs == 0xFF & ~(1 << 3)
    assert [c.coil_on() for c in coils] == [i == 3 for i in range(8)]


def test_595_outputs_stay_disabled_until_all_off_is_latched():
    # Power-up content of the storage register is undefined: worst case all ones.
    # /OE (pulled up on the board) keeps every coil off until the chain holds all-off.
    for spi_mode in (True, False):
        chain, coils, r = _chain_relays(spi_mode, n=16, power_on=0xFFFF, oe=OE)
        assert all(c.energised == 0 for c in coils)
        assert chain.enabled() and chain.outputs == 0
        r.set(5, True)
        assert [c.coil_on() for c in coils] == [i == 5 for i in range(16)]


def test_relay_contacts_follow_coil_with_delay_and_weld():
    machine.reset_board()
    rel = Relay.on_pin(16)
    r = PinRelays([machine.Pin(16)])
    r.set(0, True)
    CLOCK.advance_ms(9)
    assert not rel.closed()
    CLOCK.advance_ms(1)
    assert rel.closed()  # 10 ms to close
    r.set(0, False)
    CLOCK.advance_ms(4)
    assert rel.closed()
    CLOCK.advance_ms(1)
    assert not rel.closed()  # 5 ms to open
    r.set(0, True)
    CLOCK.advance_ms(3)
    r.set(0, False)  # a 3 ms coil pulse moves nothing
    CLOCK.advance_ms(20)
    assert not rel.closed()
    rel.weld()
    assert rel.closed()
    r.set(0, True)
    r.set(0, False)
    CLOCK.advance_ms(100)
    assert rel.closed() and not r.get(0)  # commanded off, contacts still closed
