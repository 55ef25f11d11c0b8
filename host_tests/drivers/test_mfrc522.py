# MFRC522 driver against the register-level virtual chip: UIDs of every size, bit
# collisions, CRC_A, timing on the virtual bus, debouncing, and recovery of a reader
# that stops answering.
import machine
from mfrc522_chip import MFRC522Chip
from vclock import CLOCK

from drivers.mfrc522 import MFRC522, uid_hex

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

CS, RST = 5, 22
BAUD = 5000000  # SPI clock the cabinet uses for the reader (chip max 10 MHz)
WRAP_US = 600000000  # the virtual clock's ticks_ms wraps here


def _reader(cards=(), rst=True, **kw):
    machine.reset_board()
    chip = MFRC522Chip(CS, rst_id=RST if rst else None)
    chip.present(cards)
    rf = MFRC522(machine.SPI(2, baudrate=BAUD), machine.Pin(CS), CLOCK,
                 rst=machine.Pin(RST) if rst else None, **kw)
    CLOCK.advance_ms(10)  # past the 5 ms field guard time and the cards' power-up
    return chip, rf


def _timed_poll(rf):
    t0 = CLOCK.us
    uid = rf.poll()
    return uid, CLOCK.us - t0


def _polls(rf, n, every_ms=20):
    """n polls every_ms apart; the UIDs reported, as hex."""
    seen = []
    for _ in range(n):
        uid = rf.poll()
        if uid is not None:
            seen.append(uid_hex(uid))
        CLOCK.advance_ms(every_ms)
    return seen


def _crc_a_bitwise(data):
    # Independent of the chip model's byte algorithm: CRC-16 with the reflected
    # polynomial x^16 + x^12 + x^5 + 1 (0x8408), preset 0x6363, no final XOR.
    crc = 0x6363
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def test_crc_a_vectors():
    from mfrc522_chip import crc_a

    # ISO/IEC 14443-3 annex B examples (sent low byte first: 00 00 A0 1E, 12 34 26 CF)
    # and HLTA as every reader sends it (50 00 57 CD)
    assert crc_a(b"\x00\x00") == 0x1EA0 == _crc_a_bitwise(b"\x00\x00")
    assert crc_a(b"\x12\x34") == 0xCF26 == _crc_a_bitwise(b"\x12\x34")
    assert crc_a(b"\x50\x00") == 0xCD57 == _crc_a_bitwise(b"\x50\x00")
    for uid in (b"\x04\xa1\xb2\xc3", b"\x88\x04\x11\x22", b"\xff\x00\x80\x01"):
        bcc = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
        frame = b"\x93\x70" + uid + bytes((bcc,))
        assert crc_a(frame) == _crc_a_bitwise(frame)


def test_select_frames_carry_the_coprocessor_crc():
    chip, rf = _reader(["04A1B2C3", "04112233445566"])
    assert len(_polls(rf, 3)) == 2
    sel = [d for d, n in chip.air if n == 72 and d[1] == 0x70]
    assert len(sel) == 3  # one level for the 4-byte UID, two for the 7-byte one
    for d in sel:
        assert d[7] | d[8] << 8 == _crc_a_bitwise(d[:7]), d
    halts = [d for d, n in chip.air if d[0] == 0x50]
    assert halts == [b"\x50\x00\x57\xcd"] * 2


def test_4_byte_uid():
    _chip, rf = _reader(["04A1B2C3"])
    uid, us = _timed_poll(rf)
    assert uid == b"\x04\xa1\xb2\xc3" and uid_hex(uid) == "04A1B2C3"
    assert rf.sak == 0x08  # MIFARE Classic 1K
    # REQA, anticollision, SELECT (each with its CRC on the coprocessor), HLTA: 2.85 ms
    # on a 5 MHz bus, RF air time and 1 ms-bounded waits included
    assert us < 4000, us
    assert rf.healthy and rf.failures == 0 and rf.rf_errors == 0


def test_7_and_10_byte_uids():
    chip, rf = _reader(["04112233445566"])
    uid, us = _timed_poll(rf)
    assert uid_hex(uid) == "04112233445566" and rf.sak == 0x00  # Ultralight / NTAG
    assert us < 6000, us  # two cascade levels: 4.9 ms measured
    chip.present(["04112233445566", "0102030405060708090A"])
    CLOCK.advance_ms(5)
    assert _polls(rf, 3) == ["0102030405060708090A"]  # the 7-byte card stays halted


def test_two_cards_collision_resolved_both_read_in_turn():
    # 0x04 vs 0x05: first UID bit differs; the driver follows the "1" branch first
    chip, rf = _reader(["04A1B2C3", "05A1B2C3"])
    assert _polls(rf, 4) == ["05A1B2C3", "04A1B2C3"]
    assert chip.collisions == 1
    assert rf.rf_errors == 0


def test_three_cards_collisions_in_later_bytes():
    # X/Y differ at UID bit 12, Y/Z at bit 20: the second collision is received with
    # RxAlign = 5 in the middle of byte 1, so CollPos must be taken relative to it
    x, y, z = "11020344", "11120344", "11121344"
    chip, rf = _reader([x, y, z])
    assert _polls(rf, 5) == [z, y, x]
    assert chip.collisions == 3
    assert rf.rf_errors == 0


def test_nxp_7_byte_cards_collide_only_after_the_common_prefix():
    # Two NXP cards share CT 88 and manufacturer byte 04: CL1 collides from bit 16,
    # and a 4-byte card 89.. among them collides with the cascade tag 88 in bit 0.
    a, b, c = "04112233445566", "04112233445567", "89AABBCC"
    _chip, rf = _reader([a, b, c])
    got = _polls(rf, 5)
    assert sorted(got) == sorted([a, b, c]) and len(got) == 3
    assert rf.rf_errors == 0


def test_no_card_none_within_bounded_time():
    _chip, rf = _reader()
    worst = 0
    for _ in range(50):
        uid, us = _timed_poll(rf)
        assert uid is None
        worst = max(worst, us)
        CLOCK.advance_ms(7)
    # the chip's timer ends REQA 1 ms after it has gone: 1.11 ms per poll in all
    assert worst < 1500, worst
    assert rf.healthy and rf.failures == 0


def test_a_card_left_on_the_reader_is_reported_once():
    _chip, rf = _reader(["04A1B2C3"])
    assert _polls(rf, 200) == ["04A1B2C3"]  # 4 s on the reader


def test_same_card_again_within_repeat_ms_is_debounced():
    chip, rf = _reader(["04A1B2C3"])
    assert _polls(rf, 5) == ["04A1B2C3"]
    for _ in range(5):  # flickers in and out of the field for 1 s
        chip.present([])
        assert _polls(rf, 5) == []
        chip.present(["04A1B2C3"])
        assert _polls(rf, 5) == []
    chip.present([])
    CLOCK.advance_ms(2100)
    chip.present(["04A1B2C3"])
    assert _polls(rf, 5) == ["04A1B2C3"]  # presented again after 2 s away
    chip.present(["0A0B0C0D"])
    assert _polls(rf, 5) == ["0A0B0C0D"]  # another card at once


def test_repeat_ms_zero_reports_every_presentation():
    chip, rf = _reader(["04A1B2C3"], repeat_ms=0)
    assert _polls(rf, 3) == ["04A1B2C3"]
    chip.present([])
    CLOCK.advance_ms(30)
    chip.present(["04A1B2C3"])
    assert _polls(rf, 3) == ["04A1B2C3"]


def test_dead_reader_counted_then_recovers():
    for level in (0x00, 0xFF):  # MISO held low, or floating high
        chip, rf = _reader(["04A1B2C3"], retry_ms=1000)
        assert _polls(rf, 2) == ["04A1B2C3"]
        chip.dead = True
        chip.dead_level = level
        assert _timed_poll(rf)[0] is None
        assert not rf.healthy and rf.failures == 1
        # while dead, polls in between retries cost no bus time; one retry per second
        spent = 0
        for _ in range(100):
            CLOCK.advance_ms(50)
            spent += _timed_poll(rf)[1]
        assert rf.failures == 1 + 5, rf.failures
        assert spent < 10000, spent  # 5 re-init attempts, 1 ms NRSTPD pulse each
        chip.revive()
        chip.present([])
        CLOCK.advance_ms(1000)
        assert rf.poll() is None
        assert rf.healthy and rf.failures == 6
        chip.present(["04A1B2C3"])
        CLOCK.advance_ms(2100)
        assert _polls(rf, 3) == ["04A1B2C3"]


def test_reader_that_reset_itself_is_reinitialised():
    chip, rf = _reader(["04A1B2C3"])
    assert _polls(rf, 2) == ["04A1B2C3"]
    chip._reset()  # a supply dip: registers at power-on values, antenna off
    assert rf.poll() is None
    assert rf.failures == 1 and rf.healthy  # found by TxControlReg, re-init at once
    chip.present(["05060708"])
    assert _polls(rf, 3) == ["05060708"]


def test_chip_that_raises_no_irq_is_a_failure_within_the_bound():
    chip, rf = _reader()
    chip.r[0x2A] = 0x00  # TModeReg lost TAuto: no timer, so no IRq ever
    uid, us = _timed_poll(rf)
    assert uid is None
    assert rf.failures == 1 and rf.healthy  # re-init restored the timer
    assert us < 15000, us  # the 10 ms software bound, then the re-init
    assert _timed_poll(rf)[1] < 1500


def test_no_chip_at_construction():
    machine.reset_board()  # nothing on the bus: MISO reads 0
    rf = MFRC522(machine.SPI(2, baudrate=BAUD), machine.Pin(CS), CLOCK)
    assert not rf.healthy and rf.failures == 1 and rf.poll() is None


def test_without_reset_pin_and_across_ticks_wrap():
    CLOCK.us = WRAP_US - 3000
    chip, rf = _reader(["04A1B2C3"], rst=False)
    assert CLOCK.us > WRAP_US  # the guard time ran across the wrap
    assert _polls(rf, 2) == ["04A1B2C3"]
    chip.present([])
    chip.present(["04A1B2C3"])
    assert _polls(rf, 5) == []  # debounce window measured across the wrap


def test_idle_poll_allocates_nothing():
    # MicroPython only (CPython has no gc.mem_alloc): a poll with no card, on a bus stub
    # that allocates nothing itself, must not allocate (it runs every control tick).
    import gc

    if not hasattr(gc, "mem_alloc"):
        return
    regs = bytearray(64)
    regs[0x01] = 0x20  # CommandReg: idle, oscillator running
    regs[0x04] = 0x01  # ComIrqReg: TimerIRq, nobody answered
    regs[0x14] = 0x83  # TxControlReg: antenna on
    regs[0x2D] = 39  # TReloadRegL as written
    regs[0x37] = 0x92  # VersionReg

    class Bus:
        def write(self, b):
            pass

        def write_readinto(self, w, r):
            r[1] = regs[(w[0] >> 1) & 0x3F]

    class CsPin:
        OUT = 1

        def init(self, *a, **kw):
            pass

        def value(self, v=None):
            return 1

    rf = MFRC522(Bus(), CsPin(), CLOCK)
    CLOCK.advance_ms(10)
    assert rf.poll() is None and rf.healthy
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        rf.poll()
    assert gc.mem_alloc() - before == 0


def test_custom_sak_and_card_objects():
    from mfrc522_chip import Card

    _chip, rf = _reader([Card("04A1B2C3", sak=0x20)])  # ISO 14443-4 compliant card
    assert uid_hex(rf.poll()) == "04A1B2C3" and rf.sak == 0x20


def test_uid_hex():
    assert uid_hex(b"\x04\xa1\xb2\xc3") == "04A1B2C3"
    assert uid_hex(bytearray(b"\x00\x0f\xf0\xff\x01\x10\xab")) == "000FF0FF0110AB"


def test_card_layer_constants_match_the_chip_layer():
    # `_NAME = const()` cannot be imported, so drivers/iso14443.py repeats the chip
    # commands, registers and exchange results it uses: they must equal the driver's.
    import sys

    if sys.implementation.name != "cpython":
        return  # reads the sources: the check is the same on every runtime
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def consts(name):
        out = {}
        with open(os.path.join(root, "drivers", name)) as f:
            for line in f:
                if line.startswith("_") and " = const(" in line:
                    k, v = line.split(" = const(", 1)
                    out[k] = int(v.split(")", 1)[0], 0)
        return out

    chip, card = consts("mfrc522.py"), consts("iso14443.py")
    shared = set(chip) & set(card)
    assert {"_COLL_REG", "_CMD_TRANSCEIVE", "_CMD_TRANSMIT", "_OK", "_HUNG"} <= shared
    assert all(chip[k] == card[k] for k in shared), shared
