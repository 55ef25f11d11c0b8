# Register-level virtual NXP MFRC522 and a field of ISO/IEC 14443-A cards (MicroPython
# and CPython), on the virtual clock.
#
#   chip = MFRC522Chip(cs_id=5, rst_id=22)   # attaches itself to the fake SPI bus
#   chip.present([b"\x04\xa1\xb2\xc3", "04112233445566"])   # cards in the field
#   chip.dead = True                          # MISO reads 0x00, writes are lost
#   chip.revive()                             # back, at power-on register values
#
# SPI (datasheet 8.1.2): the first byte of a CS-low transaction is an address byte, bit 7
# = 1 read / 0 write, bits 6-1 the register, bit 0 zero. A write burst sends more data
# bytes to the same register; a read burst sends one address byte per byte wanted (then
# 0x00), MISO answering the previous address.
#
# Modelled: FIFO (64 bytes), the IRQ registers with their Set1/Set2 write rule, the
# timer (TAuto, TPrescaler, TReload), the commands Idle, CalcCRC, Transmit, Transceive
# and SoftReset, bit-oriented frames (TxLastBits, RxAlign, RxLastBits), CollReg,
# ValuesAfterColl, the CRC coprocessor with its ModeReg preset, the antenna driver and
# 100 % ASK (no card answers without both), RF timing at 106 kbit/s, the NRSTPD pin.
# Not modelled: TxCRCEn/RxCRCEn, parity errors, MIFARE authentication, the IRQ pin.
#
# CollPos (CollReg bits 4-0) counts from bit 0 of the first FIFO byte, RxAlign bits
# included (the rule the MFRC631 datasheet spells out for the same receiver); 1 = first
# bit, 0 = the 32nd; CollPosNotValid when the collision lies beyond bit 32.

import binascii

from vclock import CLOCK

# Registers (datasheet 9.2)
COMMAND, COM_IEN, DIV_IEN, COM_IRQ, DIV_IRQ, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
STATUS1, STATUS2, FIFO_DATA, FIFO_LEVEL, CONTROL = 0x07, 0x08, 0x09, 0x0A, 0x0C
BIT_FRAMING, COLL, MODE, TX_MODE, RX_MODE = 0x0D, 0x0E, 0x11, 0x12, 0x13
TX_CONTROL, TX_ASK, CRC_RESULT_M, CRC_RESULT_L = 0x14, 0x15, 0x21, 0x22
T_MODE, T_PRESCALER, T_RELOAD_H, T_RELOAD_L, VERSION = 0x2A, 0x2B, 0x2C, 0x2D, 0x37

# Commands (datasheet 10.3)
IDLE, CALC_CRC, TRANSMIT, TRANSCEIVE, SOFT_RESET = 0x0, 0x3, 0x4, 0xC, 0xF

# ComIrqReg / DivIrqReg / ErrorReg bits
TX_IRQ, RX_IRQ, IDLE_IRQ, ERR_IRQ, TIMER_IRQ = 0x40, 0x20, 0x10, 0x02, 0x01
CRC_IRQ = 0x04
BUFFER_OVFL, COLL_ERR = 0x10, 0x08

# Power-on values of the registers this model gives meaning to (datasheet 9.3)
_RESET = {COMMAND: 0x20, COM_IEN: 0x80, COM_IRQ: 0x14, STATUS1: 0x21, CONTROL: 0x10,
          COLL: 0xA0, MODE: 0x3F, TX_CONTROL: 0x80, CRC_RESULT_M: 0xFF,
          CRC_RESULT_L: 0xFF, 0x0B: 0x08, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84,
          0x19: 0x4D, 0x24: 0x26, 0x26: 0x48, 0x27: 0x88, 0x28: 0x20, 0x29: 0x20}
_CRC_PRESETS = (0x0000, 0x6363, 0xA671, 0xFFFF)  # ModeReg CRCPreset bits 1-0
_FC_HZ = 13560000  # carrier; the timer and RF timing derive from it
_BIT_NS = 9440  # 128/fc: one bit at 106 kbit/s
_FDT_US = 91  # ISO 14443-3 frame delay time, 1236/fc, reader frame end to card answer
_RESET_US = 40  # oscillator ready after a soft or hard reset (datasheet 8.8.2: ~38 us)

# Card states (ISO 14443-3 figure 7)
C_IDLE, C_READY, C_ACTIVE, C_HALT = 0, 1, 2, 3
REQA, WUPA, HLTA = 0x26, 0x52, 0x50
SEL = (0x93, 0x95, 0x97)  # cascade levels 1, 2, 3
CASCADE_TAG = 0x88
AIR_LOG = 32


def crc_a(data, preset=0x6363):
    """ISO/IEC 14443-3 CRC_A (annex B byte algorithm); sent low byte first."""
    crc = preset
    for b in data:
        b ^= crc & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return crc


def _uid_bytes(uid):
    if isinstance(uid, str):
        return binascii.unhexlify(uid)
    return bytes(uid)


def _air_us(nbits):
    """Time on air of a frame of nbits data bits: SOF, a parity bit per byte, EOF."""
    return (2 + nbits + nbits // 8) * _BIT_NS // 1000


class Card:
    """One PICC: its UID, the cascade levels it implies, and the ISO 14443-3 state machine."""

    def __init__(self, uid, sak=None, since_us=0):
        self.uid = _uid_bytes(uid)
        n = len(self.uid)
        if n not in (4, 7, 10):
            raise ValueError("UID length must be 4, 7 or 10")
        if n == 4 and self.uid[0] == CASCADE_TAG:
            raise ValueError("a single-size UID cannot start with the cascade tag 0x88")
        self.levels = (n - 1) // 3
        self.atqa = ((0x04, 0x44, 0x84)[self.levels - 1], 0x00)  # bits 7-6: UID size
        self.sak = (0x08 if n == 4 else 0x00) if sak is None else sak
        self.cl = []  # per level: UID CLn (4 bytes) + BCC, as a 40-bit little-endian int
        for lv in range(self.levels):
            part = self.uid[3 * lv:3 * lv + 4]
            if lv < self.levels - 1:
                part = bytes((CASCADE_TAG,)) + self.uid[3 * lv:3 * lv + 3]
            bcc = part[0] ^ part[1] ^ part[2] ^ part[3]
            self.cl.append(int.from_bytes(part + bytes((bcc,)), "little"))
        self.state = C_IDLE
        self.level = 0
        self.was_halted = False
        self.since_us = since_us  # powered by the field since

    def _drop(self):
        # An unexpected frame sends the card back where it was woken from.
        self.state = C_HALT if self.was_halted else C_IDLE

    def hear(self, data, nbits):
        """A reader frame (bytes, bit count); returns (response int LSB-first, nbits) or None."""
        if nbits == 7:  # short frame
            cmd = data[0] & 0x7F
            if cmd == WUPA and self.state in (C_IDLE, C_HALT) or (
                    cmd == REQA and self.state == C_IDLE):
                self.was_halted = self.state == C_HALT
                self.state = C_READY
                self.level = 0
                return self.atqa[0] | self.atqa[1] << 8, 16
            if self.state in (C_READY, C_ACTIVE):
                self._drop()
            return None
        if self.state == C_READY and nbits >= 16 and data[0] == SEL[self.level]:
            return self._select(data, nbits)
        if (self.state == C_ACTIVE and nbits == 32 and data[0] == HLTA and data[1] == 0
                and crc_a(data[:2]) == data[2] | data[3] << 8):
            self.state = C_HALT
            return None
        if self.state in (C_READY, C_ACTIVE):
            self._drop()
        return None

    def _select(self, data, nbits):
        nvb = data[1]
        cl = self.cl[self.level]
        if nvb == 0x70:  # SELECT: all 40 bits and CRC_A
            ok = nbits == 72 and crc_a(data[:7]) == data[7] | data[8] << 8
            if not ok or int.from_bytes(data[2:7], "little") != cl:
                self._drop()
                return None
            if self.level < self.levels - 1:
                sak = 0x04  # cascade bit: UID not complete
                self.level += 1
            else:
                sak = self.sak & ~0x04
                self.state = C_ACTIVE
            crc = crc_a(bytes((sak,)))
            return sak | crc << 8, 24
        known = ((nvb >> 4) - 2) * 8 + (nvb & 0x0F)  # ANTICOLLISION: NVB counts bits sent
        if not 0 <= known < 40 or known != nbits - 16:
            self._drop()
            return None
        mask = (1 << known) - 1
        if (int.from_bytes(data[2:], "little") & mask) != cl & mask:
            return None  # not this card's prefix: stays quiet, stays READY
        return cl >> known, 40 - known


class MFRC522Chip:
    MAX_HZ = 10000000  # datasheet 8.1.2: SPI data rates up to 10 Mbit/s

    def __init__(self, cs_id, rst_id=None, version=0x92, clock=CLOCK):
        import machine

        self._clock = clock
        self.version = version
        self.cards = []
        self.card_ready_us = 1000  # a card answers this long after it gets power
        self.dead = False  # MISO stuck, writes lost (a reader unplugged or browned out)
        self.dead_level = 0x00  # what a dead reader's MISO reads
        self.rf_frames = 0  # frames put on air
        self.air = []  # the last AIR_LOG frames put on air: (bytes, bits)
        self.collisions = 0  # answers received with a bit collision
        self.resets = 0
        self._hard_down = False
        self._field = False
        self._field_us = 0
        self._reset()
        machine.SPI.attach(cs_id, self)
        machine.Pin.watch(cs_id, self._on_cs)
        if rst_id is not None:
            machine.Pin.watch(rst_id, self._on_rst)

    # --- test hooks ---
    def present(self, uids):
        """Put exactly these cards in the field; cards already there keep their state."""
        now = self._clock.us
        keep = {}
        for c in self.cards:
            keep[c.uid] = c
        out = []
        for u in uids:  # UID bytes, hex strings, or Card objects (e.g. a custom SAK)
            c = u if isinstance(u, Card) else Card(u)
            if c.uid in keep:
                c = keep[c.uid]
            else:
                c.since_us = now  # it just entered the field
            out.append(c)
        self.cards = out

    def revive(self):
        """The reader answers again, from its power-on state (it lost power)."""
        self.dead = False
        self._reset()

    def field_on(self):
        return (self.r[TX_CONTROL] & 0x03) != 0

    # --- registers ---
    def _reset(self):
        self.resets += 1
        self.r = bytearray(64)
        for k, v in _RESET.items():
            self.r[k] = v
        self.fifo = bytearray()
        self._cmd = IDLE
        self._events = []  # (t_us, kind, payload), applied in time order
        self._busy_until = self._clock.us + _RESET_US
        self._set_field(False)
        self._mode = None
        self._addr = 0

    def _set_field(self, on):
        was = self._field
        self._field = on
        if on and not was:
            self._field_us = self._clock.us
        if was and not on:
            for c in self.cards:
                c.state = C_IDLE  # no field, no power: a card restarts in IDLE
                c.was_halted = False

    def _settle(self):
        now = self._clock.us
        while self._events and self._events[0][0] <= now:
            _, kind, val = self._events.pop(0)
            if kind == "irq":
                self.r[COM_IRQ] |= val
            elif kind == "idle":
                self._cmd = IDLE
                self.r[COM_IRQ] |= IDLE_IRQ
            elif kind == "crc":
                self.r[CRC_RESULT_M] = val >> 8
                self.r[CRC_RESULT_L] = val & 0xFF
                self.r[DIV_IRQ] |= CRC_IRQ
            elif kind == "rx":
                self._receive(*val)

    def _read(self, a):
        if a == FIFO_DATA:
            if not self.fifo:
                return 0
            v = self.fifo[0]
            self.fifo[0:1] = b""  # (MicroPython bytearrays have no del)
            return v
        if a == FIFO_LEVEL:
            return len(self.fifo)
        if a == COMMAND:
            if self._clock.us < self._busy_until:
                return 0x3F  # RcvOff, PowerDown still set, SoftReset running
            return (self.r[COMMAND] & 0x30) | self._cmd
        if a == VERSION:
            return self.version
        return self.r[a]

    def _write(self, a, v):
        if self._clock.us < self._busy_until:
            return  # still in reset: the write is lost
        if a == COMMAND:
            self.r[COMMAND] = v & 0x30
            self._command(v & 0x0F)
        elif a in (COM_IRQ, DIV_IRQ):
            # Set1/Set2 (bit 7): 1 sets the bits marked 1, 0 clears them.
            self.r[a] = self.r[a] | (v & 0x7F) if v & 0x80 else self.r[a] & ~v & 0x7F
        elif a == FIFO_DATA:
            if len(self.fifo) >= 64:
                self.r[ERROR] |= BUFFER_OVFL
            else:
                self.fifo.append(v)
        elif a == FIFO_LEVEL:
            if v & 0x80:  # FlushBuffer
                self.fifo = bytearray()
                self.r[ERROR] &= ~BUFFER_OVFL
        elif a == COLL:
            self.r[COLL] = (self.r[COLL] & 0x7F) | (v & 0x80)  # only ValuesAfterColl
        elif a == CONTROL:
            pass  # TStopNow/TStartNow not modelled; RxLastBits is read-only
        elif a == VERSION:
            pass
        else:
            self.r[a] = v
            if a == TX_CONTROL:
                self._set_field((v & 0x03) != 0)
            elif a == BIT_FRAMING and v & 0x80 and self._cmd == TRANSCEIVE:
                self._transmit()

    def _command(self, cmd):
        self._events = []  # a new command cancels the running one
        self._cmd = cmd
        now = self._clock.us
        if cmd == SOFT_RESET:
            self._reset()
        elif cmd == CALC_CRC:
            data = bytes(self.fifo)
            self.fifo = bytearray()
            crc = crc_a(data, _CRC_PRESETS[self.r[MODE] & 0x03])
            self._events.append((now + 2 + len(data), "crc", crc))
        elif cmd == TRANSMIT:
            self._transmit()
        elif cmd not in (IDLE, TRANSCEIVE):
            self._cmd = IDLE  # other commands are not modelled

    # --- RF ---
    def _transmit(self):
        data = bytes(self.fifo)
        self.fifo = bytearray()
        bf = self.r[BIT_FRAMING]
        last = bf & 0x07  # TxLastBits
        nbits = len(data) * 8 if last == 0 else (len(data) - 1) * 8 + last
        now = self._clock.us
        tx_end = now + _air_us(nbits)
        self.rf_frames += 1
        self.air.append((data, nbits))
        if len(self.air) > AIR_LOG:
            self.air.pop(0)
        self._events.append((tx_end, "irq", TX_IRQ))
        if self._cmd == TRANSMIT:
            self._events.append((tx_end, "idle", 0))
        answers = []
        if self._field and (self.r[TX_ASK] & 0x40) and nbits > 0:
            for c in self.cards:
                if now - max(c.since_us, self._field_us) >= self.card_ready_us:
                    a = c.hear(data, nbits)
                    if a is not None:
                        answers.append(a)
        if self._cmd != TRANSCEIVE:
            return
        if self.r[T_MODE] & 0x80:  # TAuto: the timer starts when the frame has gone
            presc = ((self.r[T_MODE] & 0x0F) << 8) | self.r[T_PRESCALER]
            reload = (self.r[T_RELOAD_H] << 8) | self.r[T_RELOAD_L]
            t_us = (2 * presc + 1) * (reload + 1) * 1000000 // _FC_HZ
            if not answers or t_us < _FDT_US:  # the first received bit stops it
                self._events.append((tx_end + t_us, "irq", TIMER_IRQ))
        if answers:
            n = 0
            for a in answers:
                n = max(n, a[1])
            self._events.append((tx_end + _FDT_US + _air_us(n), "rx", (answers, bf >> 4 & 7)))
        self._events.sort(key=lambda e: e[0])

    def _receive(self, answers, align):
        first, n = answers[0]
        diff = 0
        wired = 0
        for v, _k in answers:
            diff |= v ^ first
            wired |= v
        err = 0
        coll = self.r[COLL] & 0x80
        if diff:
            j = 0
            while not (diff >> j) & 1:
                j += 1
            err = COLL_ERR
            self.collisions += 1
            pos = align + j + 1
            coll |= 0x20 if pos > 32 else (pos & 0x1F)
            keep = (1 << j) - 1
            # ValuesAfterColl = 0: every bit from the collision on reads 0; with 1 the
            # bits after it are undefined (modelled as the wired OR of the answers)
            bits = wired if coll & 0x80 else first & keep
        else:
            bits = first
            coll |= 0x20  # CollPosNotValid: no collision
        total = align + n
        nbytes = (total + 7) // 8
        self.fifo.extend((bits << align).to_bytes(nbytes, "little")[:64 - len(self.fifo)])
        self.r[CONTROL] = (self.r[CONTROL] & 0xF8) | (total & 7)  # RxLastBits
        self.r[COLL] = coll
        self.r[ERROR] = (self.r[ERROR] & BUFFER_OVFL) | err
        self.r[COM_IRQ] |= RX_IRQ | (ERR_IRQ if err else 0)

    # --- SPI ---
    def _on_cs(self, pin_id, level):
        self._mode = None  # falling or rising edge: a transaction starts or ends

    def _on_rst(self, pin_id, level):
        if level == 0:
            self._hard_down = True  # NRSTPD low: hard power-down, oscillator off
            self._set_field(False)
        elif self._hard_down:
            self._hard_down = False
            self._reset()

    def transfer(self, mosi):
        if self.dead or self._hard_down:
            return bytes((self.dead_level if self.dead else 0,)) * len(mosi)
        self._settle()
        out = bytearray(len(mosi))
        for i in range(len(mosi)):
            b = mosi[i]
            if self._mode is None:  # address byte
                self._mode = "r" if b & 0x80 else "w"
                self._addr = (b >> 1) & 0x3F
            elif self._mode == "w":
                self._write(self._addr, b)
            else:
                out[i] = self._read(self._addr)
                self._addr = (b >> 1) & 0x3F  # next address byte (0x00 ends)
        return bytes(out)
