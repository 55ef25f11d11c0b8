"""A printable A4 sheet of per-port QR stickers, as SVG and PNG with the same layout.

Each sticker: the port's QR code (quiet zone included), "Port N" (1-based) under it and
the cabinet id. Geometry is in pixels at 300 dpi; the SVG uses those as its viewBox and
declares the page as 210 x 297 mm, so both print at the same size.
"""

from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

DPI = 300
PAGE_W, PAGE_H = 2480, 3508  # A4 at 300 dpi
MARGIN = 120
HEADER_H = 200
COLS = 4
CELL_W = (PAGE_W - 2 * MARGIN) // COLS  # 560 px = 47 mm
LABEL_H = 150
QUIET = 4  # modules of quiet zone around each code (ISO 18004)
ERROR = "q"  # 25% recovery: stickers get scratched and dirty


def layout(urls):
    """[(url, x, y, module_px, modules, label_y)] for each port, row by row."""
    codes = [segno.make(u, error=ERROR, micro=False) for u in urls]
    modules = max(c.symbol_size(scale=1, border=QUIET)[0] for c in codes)
    module_px = max(1, (CELL_W - 40) // modules)
    qr_px = module_px * modules
    cell_h = qr_px + LABEL_H
    out = []
    for i, code in enumerate(codes):
        col, row = i % COLS, i // COLS
        x = MARGIN + col * CELL_W + (CELL_W - qr_px) // 2
        y = MARGIN + HEADER_H + row * (cell_h + 20)
        out.append((code, x, y, module_px, modules, y + qr_px))
    if out and out[-1][2] + cell_h > PAGE_H - MARGIN:
        raise ValueError("%d stickers do not fit one A4 page" % len(urls))
    return out, cell_h


def _runs(code, modules):
    """(row, start, length) of each horizontal run of dark modules, quiet zone included."""
    for r, row in enumerate(code.matrix_iter(scale=1, border=QUIET)):
        c = 0
        while c < modules:
            if row[c]:
                s = c
                while c < modules and row[c]:
                    c += 1
                yield r, s, c - s
            else:
                c += 1


def svg(cabinet, urls, title, subtitle):
    items, cell_h = layout(urls)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
           'viewBox="0 0 %d %d">' % (PAGE_W, PAGE_H),
           '<rect width="100%" height="100%" fill="#fff"/>',
           '<text x="%d" y="%d" font-family="sans-serif" font-size="70" font-weight="bold">'
           '%s</text>' % (MARGIN, MARGIN + 80, escape(title)),
           '<text x="%d" y="%d" font-family="sans-serif" font-size="36">%s</text>'
           % (MARGIN, MARGIN + 140, escape(subtitle))]
    for n, (code, x, y, m, modules, label_y) in enumerate(items, 1):
        cx = x + m * modules // 2
        path = "".join("M%d %dh%dv%dh-%dz" % (x + s * m, y + r * m, ln * m, m, ln * m)
                       for r, s, ln in _runs(code, modules))
        out.append('<g id="port-%d">' % n)
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#bbb" '
                   'stroke-dasharray="12 8"/>' % (cx - CELL_W // 2 + 4, y - 10, CELL_W - 8,
                                                  cell_h + 10))
        out.append('<path d="%s" fill="#000"/>' % path)
        out.append('<text x="%d" y="%d" text-anchor="middle" font-family="sans-serif" '
                   'font-size="72" font-weight="bold">Port %d</text>' % (cx, label_y + 75, n))
        out.append('<text x="%d" y="%d" text-anchor="middle" font-family="sans-serif" '
                   'font-size="32">%s</text>' % (cx, label_y + 125, escape(cabinet)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _font(size, bold=False):
    for name in ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf",):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)  # Pillow's built-in scalable font


def png(cabinet, urls, title, subtitle, path):
    items, cell_h = layout(urls)
    img = Image.new("L", (PAGE_W, PAGE_H), 255)
    d = ImageDraw.Draw(img)
    d.text((MARGIN, MARGIN + 20), title, fill=0, font=_font(70, True))
    d.text((MARGIN, MARGIN + 105), subtitle, fill=0, font=_font(36))
    big, small = _font(72, True), _font(32)
    for n, (code, x, y, m, modules, label_y) in enumerate(items, 1):
        cx = x + m * modules // 2
        d.rectangle((cx - CELL_W // 2 + 4, y - 10, cx + CELL_W // 2 - 4, y + cell_h),
                    outline=190, width=2)
        for r, s, ln in _runs(code, modules):
            d.rectangle((x + s * m, y + r * m, x + (s + ln) * m - 1, y + (r + 1) * m - 1),
                        fill=0)
        d.text((cx, label_y + 50), "Port %d" % n, fill=0, font=big, anchor="mm")
        d.text((cx, label_y + 115), cabinet, fill=0, font=small, anchor="mm")
    img.save(path, format="PNG", dpi=(DPI, DPI))
