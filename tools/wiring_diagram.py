"""The reference cabinet's wiring diagram, docs/wiring.svg, drawn from DEFAULT_PINS.

    .venv/bin/python -m tools.wiring_diagram [--out docs/wiring.svg] [--png docs/wiring.png]

Plain SVG text, no dependencies; the PNG export uses cairosvg (pinned in
requirements.txt; it needs Debian's libcairo2). Every GPIO number on the drawing comes
from firmware/system/config.py DEFAULT_PINS, so host_tests/tools/test_docs.py can check the drawing
is up to date.
"""

import argparse
import os
import sys
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from firmware.system.config import DEFAULT_PINS  # noqa: E402

W, H = 1330, 720
MAINS = "#fde3e0"
SELV = "#eef4fb"
ROW = 28  # pin row pitch on the ESP32's edges
ESP_X, ESP_W, ESP_TOP = 650, 190, 70
CHIP_X, CHIP_W = 390, 140  # the multiplexer and the shift registers
STUB = 110  # pin line length on the ESP32's right edge
BUS_X = ESP_X + ESP_W + STUB + 20  # vertical bus on the right
PART_X = BUS_X + 30  # left edge of the right-hand parts

# ESP32 pin rows, top to bottom: (pin name, index in a list pin or None, signal); None: gap
LEFT = [
    ("meter_rx", 0, "RX (UART%d) <- COM"),
    ("mux_select", 0, "S0"),
    ("mux_select", 1, "S1"),
    ("mux_select", 2, "S2"),
    ("mux_select", 3, "S3"),
    None,
    None,
    ("relay_data", None, "SER"),
    ("relay_clock", None, "SRCLK"),
    ("relay_latch", None, "RCLK"),
    ("relay_oe", None, "/OE"),
]
RIGHT = [
    ("spi_sck", None, "SCK"),
    ("spi_mosi", None, "MOSI"),
    ("spi_miso", None, "MISO"),
    ("rfid_cs", None, "SDA (CS)"),
    ("rfid_rst", None, "RST"),
    None,
    ("i2c_sda", None, "SDA"),
    ("i2c_scl", None, "SCL"),
    None,
    None,
    ("ntc_adc", None, "NTC divider (ADC1)"),
    ("smoke", None, "smoke contact"),
    ("door", None, "door switch"),
    ("service", None, "service button"),
    None,
    ("buzzer", None, "buzzer"),
]


class Svg:
    def __init__(self):
        self.parts = []

    def rect(self, x, y, w, h, fill="#ffffff", stroke="#333333"):
        self.parts.append('<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" '
                          'stroke="%s"/>' % (x, y, w, h, fill, stroke))

    def line(self, x1, y1, x2, y2, dash=False, color="#333333", width=1.2):
        extra = ' stroke-dasharray="6 4"' if dash else ""
        self.parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                          'stroke-width="%s"%s/>' % (x1, y1, x2, y2, color, width, extra))

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#111111"):
        self.parts.append('<text x="%d" y="%d" font-size="%d" text-anchor="%s" '
                          'font-weight="%s" fill="%s">%s</text>'
                          % (x, y, size, anchor, weight, color, escape(s)))

    def block(self, x, y, w, h, title, lines=(), fill="#ffffff"):
        self.rect(x, y, w, h, fill)
        self.text(x + w // 2, y + 18, title, 13, "middle", "bold")
        for i, s in enumerate(lines):
            self.text(x + w // 2, y + 35 + 15 * i, s, 11, "middle")

    def svg(self):
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
                'viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif">\n'
                % (W, H, W, H) + "\n".join(self.parts) + "\n</svg>\n")


def gpio(name, index=None):
    v = DEFAULT_PINS[name]
    if index is not None:
        v = v[index]
    return "-" if v is None else "GPIO%d" % v


def rows_y(rows):
    """{row index: y} for the non-gap rows of an edge."""
    return {i: ESP_TOP + 70 + ROW * i for i, r in enumerate(rows) if r is not None}


def draw():
    s = Svg()
    s.rect(0, 0, W, H, "#ffffff", stroke="#ffffff")
    s.text(W // 2, 30,
           "Reference cabinet wiring (GPIOs from firmware/system/config.py DEFAULT_PINS)",
           17, "middle", "bold")
    # Mains side: everything left of the isolation barrier.
    barrier = 230
    s.rect(12, 50, barrier - 12, 620, MAINS, stroke="#c0392b")
    s.text(121, 660, "MAINS SIDE (230 V)", 12, "middle", "bold", "#c0392b")
    s.rect(barrier, 50, W - 12 - barrier, 620, SELV, stroke="#2e6da4")
    s.text((barrier + W) // 2, 660, "LOW-VOLTAGE SIDE (3.3 V logic, 5 V, 12 V relay coils)",
           12, "middle", "bold", "#2e6da4")
    s.line(barrier, 50, barrier, 670, dash=True, color="#c0392b", width=2.5)
    s.text(barrier + 6, 66, "isolation barrier", 11, color="#c0392b")

    # ESP32 and its pin rows.
    left, right = rows_y(LEFT), rows_y(RIGHT)
    bottom = max(list(left.values()) + list(right.values())) + 30
    s.block(ESP_X, ESP_TOP, ESP_W, bottom - ESP_TOP, "ESP32 DevKit",
            ["MicroPython, UART0 = USB"], "#fffbe6")
    for i, y in left.items():
        name, idx, label = LEFT[i]
        if name == "meter_rx":
            label = label % DEFAULT_PINS["meter_uarts"][0]
        s.line(CHIP_X + CHIP_W, y, ESP_X, y)
        s.text(ESP_X + 6, y + 4, gpio(name, idx), 11)
        s.text(CHIP_X + CHIP_W + 6, y - 3, label, 10)
    for i, y in right.items():
        name, idx, label = RIGHT[i]
        s.line(ESP_X + ESP_W, y, BUS_X, y)
        s.text(ESP_X + ESP_W - 6, y + 4, gpio(name, idx), 11, "end")
        s.text(ESP_X + ESP_W + 6, y - 3, label, 10)

    # Meters: 10 x HLW8032 -> 10 opto-couplers -> 74HC4067 -> UART RX.
    my = left[0] - 30
    s.block(20, my, 178, 120, "10 x HLW8032",
            ["one per port, on its live:", "1 mOhm shunt, 4 x 470 k", "/ 1 k divider, 5 V",
             "from the mains side"], MAINS)
    s.block(204, my + 15, 54, 90, "opto", ["x 10", "TX", "only"])
    s.line(198, my + 60, 204, my + 60, width=3)
    s.block(CHIP_X, my - 5, CHIP_W, left[4] - my + 30, "74HC4067",
            ["16-channel mux", "C0..C9 <- optos", "COM -> UART RX", "3.3 V"])
    s.line(258, my + 60, CHIP_X, my + 60, width=3)
    s.text((258 + CHIP_X) // 2, my + 52, "C0..C9, pull-ups", 10, "middle")

    # Relays: 74HC595 x 2 -> ULN2803 x 2 -> 10 relays (coils low voltage, contacts mains).
    ry = left[7] - 30
    rh = left[10] - ry + 30
    s.block(CHIP_X, ry, CHIP_W, rh, "74HC595 x 2",
            ["chained, 3.3 V", "/OE: 10 k pull-up", "to 3.3 V, outputs off", "until driven low"])
    s.block(262, ry + 10, 110, rh - 20, "ULN2803 x 2", ["coil drivers,", "flyback diodes",
                                                         "built in"])
    s.line(372, ry + rh // 2, CHIP_X, ry + rh // 2, width=3)
    s.block(150, ry + 10, 96, rh - 20, "relays x 10", ["12 V coils,", "contacts on", "port live"])
    s.line(246, ry + rh // 2, 262, ry + rh // 2, width=3)
    sy = ry + rh + 40
    s.block(20, sy, 190, 62, "port sockets x 10", ["live via relay + shunt,", "neutral, earth"],
            MAINS)
    s.line(198, ry + rh - 10, 198, sy, width=3)
    s.line(100, my + 120, 100, sy, dash=True, color="#c0392b")
    s.text(94, (my + 120 + sy) // 2, "shunt in", 10, "end", color="#c0392b")
    s.text(94, (my + 120 + sy) // 2 + 13, "each live", 10, "end", color="#c0392b")

    # Right-hand parts on their buses.
    def bus(rows, to_y):
        ys = [right[i] for i in rows]
        s.line(BUS_X, min(ys + [to_y]), BUS_X, max(ys + [to_y]), width=3)

    spi_y = (right[0] + right[4]) // 2
    bus((0, 1, 2, 3, 4), spi_y)
    s.block(PART_X, right[0] - 20, 220, 100, "MFRC522 card reader",
            ["SPI bus 1, 5 MHz, 3.3 V", "RST to GPIO, IRQ unused"])
    s.line(BUS_X, spi_y, PART_X, spi_y, width=3)

    oled_y, pcf_y = right[6] - 8, right[7] + 36
    bus((6, 7), pcf_y)
    s.block(PART_X, oled_y - 22, 150, 48, "SSD1306 OLED", ["128 x 64, I2C 0x3C"])
    s.line(BUS_X, oled_y, PART_X, oled_y, width=3)
    addr = DEFAULT_PINS["keypad_i2c"]
    s.block(PART_X, pcf_y - 22, 150, 48, "PCF8574",
            ["I2C 0x%02X" % addr if addr is not None else "(keypad on GPIOs)"])
    s.line(BUS_X, pcf_y, PART_X, pcf_y, width=3)
    rows, cols = DEFAULT_PINS["keypad_rows"], DEFAULT_PINS["keypad_cols"]
    s.block(PART_X + 170, pcf_y - 40, 120, 80, "3 x 4 keypad",
            ["rows P%d-P%d" % (rows[0], rows[-1]), "cols P%d-P%d" % (cols[0], cols[-1])])
    s.line(PART_X + 150, pcf_y, PART_X + 170, pcf_y, width=3)
    s.text(ESP_X + ESP_W + 6, right[7] + 18, "4.7 k pull-ups to 3.3 V", 10)

    in_y = (right[10] + right[13]) // 2
    bus((10, 11, 12, 13), in_y)
    s.block(PART_X, right[10] - 22, 300, 112, "cabinet inputs",
            ["NTC 10 k B3950 to GND, 10 k from 3.3 V",
             "smoke relay contact and door switch to GND,",
             "each with a 10 k pull-up (34-39: none inside)",
             "service: the DevKit's BOOT button"])
    s.line(BUS_X, in_y, PART_X, in_y, width=3)

    by = right[15]
    s.block(PART_X, by - 20, 300, 40, "active buzzer, NPN driver, 5 V")
    s.line(BUS_X, by, PART_X, by)
    return s.svg()


def main(argv=None):
    ap = argparse.ArgumentParser(prog=".venv/bin/python -m tools.wiring_diagram",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "wiring.svg"))
    ap.add_argument("--png", help="also write a PNG here (needs cairosvg)")
    a = ap.parse_args(argv)
    svg = draw()
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(svg)
    print("wrote %s" % a.out)
    if a.png:
        try:
            import cairosvg
        except (ImportError, OSError) as e:  # OSError: libcairo2 is not installed
            print("no PNG: cairosvg unavailable (%s)" % e, file=sys.stderr)
            return 1
        cairosvg.svg2png(bytestring=svg.encode(), write_to=a.png, output_width=W * 3 // 2)
        print("wrote %s" % a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
