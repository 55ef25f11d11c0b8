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


def adler32(data, value=1):
    a = value & 0xFFFF
    b = value >> 16
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
    """A zlib stream holding raw in stored deflate blocks (one buffer, sized up front)."""
    n = len(raw)
    blocks = max(1, (n + _MAX_STORED - 1) // _MAX_STORED)
    out = bytearray(2 + 5 * blocks + n + 4)
    out[0:2] = b"\x78\x01"  # deflate, 32 K window; check bits make it % 31 == 0
    o = 2
    i = 0
    while True:
        k = min(_MAX_STORED, n - i)
        final = 1 if i + k >= n else 0
        out[o] = final  # BFINAL, BTYPE = 00 (stored)
        out[o + 1:o + 5] = struct.pack("<HH", k, k ^ 0xFFFF)
        out[o + 5:o + 5 + k] = raw[i:i + k]
        o += 5 + k
        i += k
        if final:
            break
    out[o:o + 4] = struct.pack(">I", adler32(raw))
    return out


def _chunk_to(f, kind, body):
    crc = binascii.crc32(body, binascii.crc32(kind)) & 0xFFFFFFFF
    f.write(struct.pack(">I", len(body)))
    f.write(kind)
    f.write(body)
    f.write(struct.pack(">I", crc))


def _chunk(kind, body):
    crc = binascii.crc32(body, binascii.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def scanlines(buf, width, height, scale=1, grey=False):
    """PNG raw image data (filter byte 0 per row) of a MONO_VLSB frame, scaled up."""
    w = width * scale
    row_bytes = w if grey else (w + 7) // 8
    raw = bytearray(height * scale * (row_bytes + 1))  # sized up front: no regrowth
    o = 0
    row = bytearray(row_bytes)
    for y in range(height):
        _row(buf, width, y, scale, grey, row)
        for _ in range(scale):
            raw[o] = 0  # filter type None
            raw[o + 1:o + 1 + row_bytes] = row
            o += 1 + row_bytes
    return raw


def encode(buf, width, height, scale=1, grey=False):
    """A 1-bit (or 8-bit when grey) greyscale PNG of a MONO_VLSB frame."""
    ihdr = struct.pack(">IIBBBBB", width * scale, height * scale, 8 if grey else 1,
                       _GREYSCALE, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib_stored(scanlines(buf, width, height, scale, grey)))
            + _chunk(b"IEND", b""))


def write(path, buf, width, height, scale=1, grey=False):
    """Stream the PNG to path a few rows at a time: one stored deflate block per IDAT
    chunk, so no buffer is larger than ~2 KB (a long simulation fragments the heap)."""
    w = width * scale
    row_bytes = w if grey else (w + 7) // 8
    ihdr = struct.pack(">IIBBBBB", w, height * scale, 8 if grey else 1, _GREYSCALE, 0, 0, 0)
    rows_per_block = max(1, 2048 // (row_bytes + 1))
    total = height * scale
    adler = 1
    row = bytearray(row_bytes)
    with open(path, "wb") as f:
        f.write(_SIGNATURE)
        _chunk_to(f, b"IHDR", ihdr)
        y_out = 0
        first = True
        while y_out < total:
            k = min(rows_per_block, total - y_out)
            block = bytearray(k * (row_bytes + 1))
            o = 0
            for j in range(k):
                _row(buf, width, (y_out + j) // scale, scale, grey, row)
                block[o] = 0  # filter type None
                block[o + 1:o + 1 + row_bytes] = row
                o += 1 + row_bytes
            y_out += k
            adler = adler32(block, adler)
            final = 1 if y_out >= total else 0
            body = (b"\x78\x01" if first else b"") + bytes([final]) + struct.pack(
                "<HH", len(block), len(block) ^ 0xFFFF) + block
            if final:
                body += struct.pack(">I", adler)
            _chunk_to(f, b"IDAT", body)
            first = False
        _chunk_to(f, b"IEND", b"")


def _row(buf, width, y, scale, grey, row):
    """One scaled-up scanline of a MONO_VLSB frame into row."""
    src = (y >> 3) * width
    bit = y & 7
    for i in range(len(row)):
        row[i] = 0
    for x in range(width):
        if (buf[src + x] >> bit) & 1:
            for k in range(x * scale, (x + 1) * scale):
                if grey:
                    row[k] = 0xFF
                else:
                    row[k >> 3] |= 0x80 >> (k & 7)
