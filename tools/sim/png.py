# PNG from a MONO_VLSB frame (MicroPython and CPython), for screen captures.
#
#   data = png.encode(buf, 128, 64, scale=4)          # bytes of a 1-bit greyscale PNG
#   png.write("idle.png", buf, 128, 64, scale=4, grey=True)
#
# 1 = lit = white. The image data goes in stored (uncompressed) deflate blocks, so no
# zlib is needed: the zlib stream is a 2-byte header, blocks of at most 65535 bytes and
# the Adler-32 of the raw data; each chunk ends with binascii.crc32 (PNG 1.2, RFC 1950,
# RFC 1951 section 3.2.4).

import binascii
import struct

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREYSCALE = 0  # PNG colour type
_MAX_STORED = 65535  # bytes in one stored deflate block
_ADLER_MOD = 65521
_ADLER_RUN = 5552  # bytes summed before a modulo cannot overflow 32 bits


def adler32(data):
    a = 1
    b = 0
    i = 0
    n = len(data)
    while i < n:
        end = min(n, i + _ADLER_RUN)
        for k in range(i, end):
            a += data[k]
            b += a
        a %= _ADLER_MOD
        b %= _ADLER_MOD
        i = end
    return (b << 16) | a


def zlib_stored(raw):
    """A zlib stream holding raw in stored deflate blocks."""
    out = bytearray(b"\x78\x01")  # deflate, 32 K window; check bits make it % 31 == 0
    n = len(raw)
    i = 0
    while True:
        k = min(_MAX_STORED, n - i)
        final = 1 if i + k >= n else 0
        out.append(final)  # BFINAL, BTYPE = 00 (stored)
        out += struct.pack("<HH", k, k ^ 0xFFFF)
        out += raw[i:i + k]
        i += k
        if final:
            break
    out += struct.pack(">I", adler32(raw))
    return bytes(out)


def _chunk(kind, body):
    crc = binascii.crc32(body, binascii.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def scanlines(buf, width, height, scale=1, grey=False):
    """PNG raw image data (filter byte 0 per row) of a MONO_VLSB frame, scaled up."""
    w = width * scale
    row_bytes = w if grey else (w + 7) // 8
    raw = bytearray()
    row = bytearray(row_bytes)
    for y in range(height):
        src = (y >> 3) * width
        bit = y & 7
        for i in range(row_bytes):
            row[i] = 0
        for x in range(width):
            if (buf[src + x] >> bit) & 1:
                for k in range(x * scale, (x + 1) * scale):
                    if grey:
                        row[k] = 0xFF
                    else:
                        row[k >> 3] |= 0x80 >> (k & 7)
        for _ in range(scale):
            raw.append(0)  # filter type None
            raw += row
    return raw


def encode(buf, width, height, scale=1, grey=False):
    """A 1-bit (or 8-bit when grey) greyscale PNG of a MONO_VLSB frame."""
    ihdr = struct.pack(">IIBBBBB", width * scale, height * scale, 8 if grey else 1,
                       _GREYSCALE, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib_stored(scanlines(buf, width, height, scale, grey)))
            + _chunk(b"IEND", b""))


def write(path, buf, width, height, scale=1, grey=False):
    data = encode(buf, width, height, scale, grey)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)
