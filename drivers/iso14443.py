# ISO/IEC 14443-3 type A card layer of the MFRC522 driver (drivers/mfrc522.py): REQA, the
# anticollision and SELECT cascade (4, 7 or 10 byte UIDs) and HLTA, run over the chip
# layer's exchanges. Functions, not a class: each takes the MFRC522 and works in its
# buffers (frame, rx, uid), so a read allocates nothing; this module is the only user of
# the reader's _exchange, _crc, _rd, _frame, _rx, _rx_n and _rx_last_bits outside it.

from micropython import const

# Chip values the card layer passes to the chip layer. `_NAME = const()` is compile-time
# only and cannot be imported, so these repeat drivers/mfrc522.py's definitions
# (host_tests/drivers/test_mfrc522.py checks that they agree).
_COLL_REG = const(0x0E)  # bit 7 ValuesAfterColl, 5 CollPosNotValid, 4-0 CollPos
_COLL_POS_NOT_VALID = const(0x20)
_CMD_TRANSMIT = const(0x4)
_CMD_TRANSCEIVE = const(0xC)  # transmit on StartSend, then receive

# Exchange results (MFRC522._exchange)
_OK = const(0)
_TIMEOUT = const(1)  # chip timer expired: nobody answered
_COLL = const(2)
_ERROR = const(3)  # RF error: noise, a card leaving mid-frame
_HUNG = const(4)  # no IRQ at all: the chip is not working

# ISO/IEC 14443-3 type A
_REQA = const(0x26)  # 7-bit short frame; IDLE cards answer ATQA (WUPA 0x52: HALT too)
_HLTA = const(0x50)  # 50 00 + CRC_A; a card never answers it
_SEL_CL1 = const(0x93)  # SEL of cascade level n is 0x93 + 2 * (n - 1)
_NVB_SELECT = const(0x70)  # NVB: 7 whole bytes, i.e. all 40 bits of UID CLn + BCC
_CASCADE_TAG = const(0x88)  # first byte of UID CLn when the UID goes on
_SAK_CASCADE = const(0x04)  # SAK b3 (ISO numbering from b1): UID not complete


def _cascade(rf, level):
    """Anticollision and SELECT at one cascade level: the SAK, -1 RF error, -2 hung.
    UID CLn + BCC are left in frame[2:7]."""
    f = rf._frame
    rx = rf._rx
    sel = _SEL_CL1 + 2 * level
    known = 0  # UID CLn bits settled so far
    for _ in range(33):  # every round settles at least one more of 32 bits
        pos = known >> 3
        align = known & 7
        f[0] = sel
        f[1] = ((2 + pos) << 4) | align  # NVB: whole bytes sent, extra bits
        r = rf._exchange(_CMD_TRANSCEIVE, 2 + pos + (1 if align else 0),
                         (align << 4) | align)
        if r == _HUNG:
            return -2
        if r != _OK and r != _COLL:
            return -1
        for i in range(rf._rx_n):  # received bits continue at bit `known`
            k = 2 + pos + i
            if k > 6:
                break
            v = rx[1 + i]
            if i == 0 and align:
                m = (1 << align) - 1
                v = (f[k] & m) | (v & ~m & 0xFF)
            f[k] = v
        if r == _OK:
            if rf._rx_n != 5 - pos or f[2] ^ f[3] ^ f[4] ^ f[5] != f[6]:
                return -1  # BCC wrong or a short frame
            break
        coll = rf._rd(_COLL_REG)
        if coll & _COLL_POS_NOT_VALID:
            return -1
        # CollPos counts from bit 0 of the first FIFO byte (RxAlign included),
        # 1 = first bit, 0 = 32nd; the first FIFO byte is UID CLn byte `pos`.
        bit = 8 * pos + ((coll & 0x1F) or 32) - 1
        if bit < known or bit >= 32:
            return -1
        k = 2 + (bit >> 3)
        b = bit & 7
        f[k] = (f[k] & ((1 << b) - 1)) | (1 << b)  # follow the cards with a 1 there
        known = bit + 1
    else:
        return -1
    f[1] = _NVB_SELECT
    crc = rf._crc(f, 0, 7)
    if crc < 0:
        return -2
    f[7] = crc & 0xFF  # CRC_A goes low byte first
    f[8] = crc >> 8
    r = rf._exchange(_CMD_TRANSCEIVE, 9, 0)
    if r == _HUNG:
        return -2
    if r != _OK or rf._rx_n != 3 or rf._rx_last_bits:
        return -1
    sak = rx[1]
    got = rx[2] | rx[3] << 8
    crc = rf._crc(rx, 1, 1)
    if crc < 0:
        return -2
    return sak if crc == got else -1


def _halt(rf):
    f = rf._frame
    f[0] = _HLTA
    f[1] = 0
    crc = rf._crc(f, 0, 2)
    if crc >= 0:
        f[2] = crc & 0xFF
        f[3] = crc >> 8
        rf._exchange(_CMD_TRANSMIT, 4, 0)


def read_uid(rf):
    """UID length into rf._uid; 0 no card or an RF error; -1 chip not working."""
    f = rf._frame
    f[0] = _REQA
    r = rf._exchange(_CMD_TRANSCEIVE, 1, 7)  # short frame: TxLastBits = 7
    if r == _HUNG:
        return -1
    if r == _TIMEOUT:
        return 0
    # ATQA: 2 bytes; a collision in it just means several cards (ISO 14443-3 6.5.2)
    if r == _ERROR or rf._rx_n != 2:
        rf.rf_errors += 1
        return 0
    uid = rf._uid
    n = 0
    for level in range(3):
        sak = _cascade(rf, level)
        if sak < 0:
            if sak == -2:
                return -1
            rf.rf_errors += 1
            return 0
        if sak & _SAK_CASCADE:
            if f[2] != _CASCADE_TAG:
                break
            for i in range(3):
                uid[n + i] = f[3 + i]
            n += 3
            continue
        if f[2] == _CASCADE_TAG and level == 0:
            break  # 0x88 cannot start a complete UID CLn at level 1
        for i in range(4):
            uid[n + i] = f[2 + i]
        rf.sak = sak
        _halt(rf)
        return n + 4
    rf.rf_errors += 1
    return 0
