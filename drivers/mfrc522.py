# NXP MFRC522 13.56 MHz reader on SPI: the UID of ISO/IEC 14443-A cards (MIFARE
# Classic, Ultralight, NTAG, DESFire, phones emulating a card): 4, 7 or 10 bytes.
#
#   rf = MFRC522(SPI(2, baudrate=5000000, polarity=0, phase=0), Pin(5), time, rst=Pin(22))
#   uid = rf.poll()              # once per control tick: bytes or None
#   if uid: auth = "card:" + uid_hex(uid)
#
# SPI mode 0, MSB first, up to 10 Mbit/s (datasheet 8.1.2). A poll() with no card is one
# REQA bounded by the chip's timer (RF_TIMEOUT_US after the request has gone); a card
# adds the anticollision loop, one SELECT per cascade level (CRC_A from the chip's CRC
# coprocessor) and HLTA. This module is the chip layer (registers, FIFO, timer, the
# exchanges, reset and health) and poll(); the card layer is drivers/iso14443.py.
#
# Repeats: REQA wakes only IDLE cards and every read ends with HLTA, so a card resting
# on the reader is reported once, several cards in the field one per poll (the "1"
# branch first at each collision), and a card again only after it left the field (lost
# power) and came back. Besides, the same UID within repeat_ms of its last sighting is
# not reported (a card at the edge of the field flickers); each sighting restarts the
# window; repeat_ms=0 leaves it to the caller. A re-init cycles the field and so wakes
# a halted card: reported again unless seen within repeat_ms.
#
# Health: each poll reads VersionReg (0x00/0xFF: nothing answering, MISO low or
# floating high) and TxControlReg (antenna off: the chip reset itself, ESD or a supply
# dip). Either, or no IRQ within WAIT_MS although the chip timer runs RF_TIMEOUT_US,
# counts one failure, clears `healthy` and re-initialises the chip (NRSTPD pulse when
# rst is wired, then SoftReset); while that fails it is retried every retry_ms, each
# failed attempt one more failure. The app raises its reader alarm from `healthy`.

from micropython import const

from drivers.iso14443 import read_uid

# Registers (datasheet 9.2). SPI address byte: bit 7 = read, bits 6-1 = register.
_COMMAND_REG = const(0x01)
_COM_IRQ_REG = const(0x04)  # bit 7 Set1: writing 0 there clears the bits written 1
_DIV_IRQ_REG = const(0x05)
_ERROR_REG = const(0x06)
_FIFO_DATA_REG = const(0x09)  # 64-byte FIFO
_FIFO_LEVEL_REG = const(0x0A)  # bit 7 FlushBuffer, bits 6-0 bytes stored
_CONTROL_REG = const(0x0C)  # bits 2-0 RxLastBits: valid bits in the last byte
_BIT_FRAMING_REG = const(0x0D)  # bit 7 StartSend, 6-4 RxAlign, 2-0 TxLastBits
_COLL_REG = const(0x0E)  # bit 7 ValuesAfterColl, 5 CollPosNotValid, 4-0 CollPos
_MODE_REG = const(0x11)
_TX_CONTROL_REG = const(0x14)
_TX_ASK_REG = const(0x15)
_CRC_RESULT_M_REG = const(0x21)
_CRC_RESULT_L_REG = const(0x22)
_T_MODE_REG = const(0x2A)  # bit 7 TAuto, bits 3-0 TPrescaler high nibble
_T_PRESCALER_REG = const(0x2B)
_T_RELOAD_H_REG = const(0x2C)
_T_RELOAD_L_REG = const(0x2D)
_VERSION_REG = const(0x37)  # 0x91 v1.0, 0x92 v2.0; clones report other values

# Commands (CommandReg bits 3-0, datasheet 10.3)
_CMD_IDLE = const(0x0)
_CMD_CALC_CRC = const(0x3)  # CRC over the FIFO; result in CRCResultReg, then CRCIRq
_CMD_TRANSMIT = const(0x4)
_CMD_TRANSCEIVE = const(0xC)  # transmit on StartSend, then receive
_CMD_SOFT_RESET = const(0xF)
_POWER_DOWN = const(0x10)  # CommandReg: reads 1 until the oscillator runs after reset

# IRQ and error bits
_TX_IRQ = const(0x40)
_RX_IRQ = const(0x20)
_TIMER_IRQ = const(0x01)
_CRC_IRQ = const(0x04)  # DivIrqReg
_COLL_ERR = const(0x08)
_ERR_FATAL = const(0x53)  # TempErr (antenna drivers off), BufferOvfl, ParityErr, ProtocolErr

# Settings
_T_PRESCALER = const(169)  # timer tick (2 * 169 + 1) / 13.56 MHz = 25.0 us
_TICK_US = const(25)
_T_AUTO = const(0x80)  # TModeReg: the timer starts when a frame has gone
_FORCE_100_ASK = const(0x40)  # TxASKReg: ISO 14443-A modulates 100 % ASK
_MODE_CRC_6363 = const(0x3D)  # ModeReg: TxWaitRF, MFIN active high, CRC preset 6363h
_ANTENNA = const(0x03)  # TxControlReg: Tx1RFEn | Tx2RFEn
_STARTSEND = const(0x80)

# Timing
_GUARD_MS = const(5)  # unmodulated field before the first command (cards power up)
_WAIT_MS = const(10)  # no IRQ this long with a 1 ms chip timer: the chip is not running
_IRQ_POLL_US = const(100)  # between IRQ register reads while the RF exchange runs
_RESET_MS = const(10)  # bound for the oscillator to run after a reset (~38 us typ.)

# Exchange results (drivers/iso14443.py repeats them and the commands it sends)
_OK = const(0)
_TIMEOUT = const(1)  # chip timer expired: nobody answered
_COLL = const(2)
_ERROR = const(3)  # RF error: noise, a card leaving mid-frame
_HUNG = const(4)  # no IRQ at all: the chip is not working

_FRAME_MAX = const(9)  # SELECT: SEL NVB UID0-3 BCC CRC_A


def uid_hex(uid):
    """UID bytes as upper-case hex, e.g. "04A1B2C3"."""
    return "".join(f"{b:02X}" for b in uid)


class MFRC522:
    RF_TIMEOUT_US = 1000  # a card starts answering ~91 us after a frame (FDT 1236/fc)

    def __init__(self, spi, cs, clock, rst=None, repeat_ms=2000, retry_ms=1000):
        self._spi = spi
        self._cs = cs
        self._rst = rst
        self._tms = clock.ticks_ms
        self._tdiff = clock.ticks_diff
        self._sleep_ms = clock.sleep_ms
        self._sleep_us = clock.sleep_us  # the board contract's clock (drivers/board.py)
        self.repeat_ms = repeat_ms
        self.retry_ms = retry_ms
        cs.init(cs.OUT, value=1)
        if rst is not None:
            rst.init(rst.OUT, value=1)
        self._b2 = bytearray(2)
        self._tx = bytearray(_FRAME_MAX + 1)
        self._rx = bytearray(_FRAME_MAX + 1)
        self._txm = memoryview(self._tx)
        self._rxm = memoryview(self._rx)
        self._frame = bytearray(_FRAME_MAX)
        self._uid = bytearray(10)
        self._last = bytearray(10)
        self._last_n = 0
        self._last_ms = 0
        self._rx_n = 0
        self._rx_last_bits = 0
        self._field_ms = 0
        self._guard = False  # the field came on at _field_ms: wait _GUARD_MS once
        self.version = 0
        self.sak = 0  # SAK of the last card read (0x08 MIFARE Classic 1K, 0x00 Ultralight)
        self.failures = 0  # reader found not working (see the module comment)
        self.rf_errors = 0  # reads abandoned on an RF error (noise, a card pulled away)
        self.healthy = self._init()
        if not self.healthy:
            self.failures += 1
        self._tried_ms = self._tms()

    # --- SPI register access ---
    def _rd(self, reg):
        b = self._b2
        b[0] = 0x80 | (reg << 1)
        b[1] = 0
        self._cs.value(0)
        self._spi.write_readinto(b, b)
        self._cs.value(1)
        return b[1]

    def _wr(self, reg, v):
        b = self._b2
        b[0] = reg << 1
        b[1] = v
        self._cs.value(0)
        self._spi.write(b)
        self._cs.value(1)

    def _wfifo(self, src, off, n):
        if n == 1:
            self._wr(_FIFO_DATA_REG, src[off])
            return
        tx = self._tx
        tx[0] = _FIFO_DATA_REG << 1  # a write burst: every data byte to the FIFO
        for i in range(n):
            tx[1 + i] = src[off + i]
        self._cs.value(0)
        self._spi.write(self._txm[:n + 1])
        self._cs.value(1)

    def _rfifo(self, n):
        tx = self._tx
        for i in range(n):
            tx[i] = 0x80 | (_FIFO_DATA_REG << 1)  # a read burst: one address per byte
        tx[n] = 0
        self._cs.value(0)
        self._spi.write_readinto(self._txm[:n + 1], self._rxm[:n + 1])
        self._cs.value(1)

    # --- chip set-up and health ---
    def _wait_ready(self):
        t0 = self._tms()
        while True:
            c = self._rd(_COMMAND_REG)
            if c & 0xC0:
                return False  # reserved bits read 1: MISO floats high, no chip
            if not c & _POWER_DOWN and c & 0x0F != _CMD_SOFT_RESET:
                return True
            if self._tdiff(self._tms(), t0) > _RESET_MS:
                return False

    def _init(self):
        if self._rst is not None:
            self._rst.value(0)  # NRSTPD low: hard power-down, registers reset
            self._sleep_ms(1)
            self._rst.value(1)
            if not self._wait_ready():
                return False
        self._wr(_COMMAND_REG, _CMD_SOFT_RESET)
        if not self._wait_ready():
            return False
        self.version = self._rd(_VERSION_REG)
        if self.version in (0x00, 0xFF):
            return False
        reload = self.RF_TIMEOUT_US // _TICK_US - 1
        self._wr(_T_MODE_REG, _T_AUTO | (_T_PRESCALER >> 8))
        self._wr(_T_PRESCALER_REG, _T_PRESCALER & 0xFF)
        self._wr(_T_RELOAD_H_REG, reload >> 8)
        self._wr(_T_RELOAD_L_REG, reload & 0xFF)
        self._wr(_TX_ASK_REG, _FORCE_100_ASK)
        self._wr(_MODE_REG, _MODE_CRC_6363)
        self._wr(_COLL_REG, 0x00)  # ValuesAfterColl = 0: bits after a collision read 0
        if self._rd(_T_RELOAD_L_REG) != reload & 0xFF:
            return False  # writes do not stick: not a working chip
        self._wr(_TX_CONTROL_REG, self._rd(_TX_CONTROL_REG) | _ANTENNA)
        self._field_ms = self._tms()
        self._guard = True
        return True

    def _alive(self):
        v = self._rd(_VERSION_REG)
        if v == 0x00 or v == 0xFF:
            return False
        return self._rd(_TX_CONTROL_REG) & _ANTENNA == _ANTENNA

    def _fault(self):
        self.failures += 1
        self.healthy = self._init()
        self._tried_ms = self._tms()

    # --- RF exchanges ---
    def _exchange(self, cmd, n, framing):
        """Send frame[:n] (TxLastBits/RxAlign in framing); Transceive: answer in rx[1:]."""
        self._wr(_COMMAND_REG, _CMD_IDLE)
        self._wr(_COM_IRQ_REG, 0x7F)
        self._wr(_FIFO_LEVEL_REG, 0x80)
        self._wfifo(self._frame, 0, n)
        self._wr(_BIT_FRAMING_REG, framing)
        self._wr(_COMMAND_REG, cmd)
        done = _TX_IRQ
        if cmd == _CMD_TRANSCEIVE:
            self._wr(_BIT_FRAMING_REG, framing | _STARTSEND)
            done = _RX_IRQ
        t0 = self._tms()
        while True:
            irq = self._rd(_COM_IRQ_REG)
            if irq & done:
                break
            if irq & _TIMER_IRQ:
                return _TIMEOUT
            if self._tdiff(self._tms(), t0) > _WAIT_MS:
                return _HUNG
            self._sleep_us(_IRQ_POLL_US)  # a card answers in ~0.1 ms, the timer in 1
        if cmd != _CMD_TRANSCEIVE:
            return _OK
        err = self._rd(_ERROR_REG)
        n = self._rd(_FIFO_LEVEL_REG) & 0x7F
        if n > _FRAME_MAX:
            return _ERROR
        self._rx_n = n
        self._rx_last_bits = self._rd(_CONTROL_REG) & 0x07
        if n:
            self._rfifo(n)
        if err & _COLL_ERR:
            return _COLL
        return _ERROR if err & _ERR_FATAL else _OK

    def _crc(self, src, off, n):
        """CRC_A of src[off:off+n] by the coprocessor; -1 when it never finishes."""
        self._wr(_COMMAND_REG, _CMD_IDLE)
        self._wr(_DIV_IRQ_REG, _CRC_IRQ)  # Set2 = 0: clear CRCIRq
        self._wr(_FIFO_LEVEL_REG, 0x80)
        self._wfifo(src, off, n)
        self._wr(_COMMAND_REG, _CMD_CALC_CRC)
        t0 = self._tms()
        while not self._rd(_DIV_IRQ_REG) & _CRC_IRQ:
            if self._tdiff(self._tms(), t0) > _WAIT_MS:
                return -1
        self._wr(_COMMAND_REG, _CMD_IDLE)
        return self._rd(_CRC_RESULT_L_REG) | self._rd(_CRC_RESULT_M_REG) << 8

    # --- API ---
    def poll(self):
        """One detection attempt: a newly presented card's UID (bytes), else None."""
        now = self._tms()
        if not self.healthy:
            if self._tdiff(now, self._tried_ms) < self.retry_ms:
                return None
            self._tried_ms = now
            self.healthy = self._init()
            if not self.healthy:
                self.failures += 1
                return None
        elif not self._alive():
            self._fault()
            return None
        if self._guard:  # a one-shot: not compared once over (ticks wrap after 6 days)
            if self._tdiff(now, self._field_ms) < _GUARD_MS:
                return None
            self._guard = False
        if self._last_n and self._tdiff(now, self._last_ms) >= self.repeat_ms:
            self._last_n = 0  # the repeat window is over: forget the card, stop comparing
        n = read_uid(self)
        if n < 0:
            self._fault()
            return None
        if n == 0:
            return None
        now = self._tms()
        uid = self._uid
        last = self._last
        same = n == self._last_n and self._tdiff(now, self._last_ms) < self.repeat_ms
        for i in range(n):
            same = same and uid[i] == last[i]
            last[i] = uid[i]
        self._last_n = n
        self._last_ms = now  # every sighting restarts the repeat window
        return None if same else bytes(uid[:n])
