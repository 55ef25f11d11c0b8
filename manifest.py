# Freeze the cabinet firmware into a custom MicroPython build (docs/deploy.md):
#
#   make deps    # lib/glyphs_zh.py is generated; it must exist before the build
#   make -C $MPY_DIR/ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=$PWD/manifest.py
#
# Frozen modules run from flash without a RAM copy of their bytecode and cannot be lost or
# half-written by a failed file copy. Paths below are relative to this file. boot.py,
# main.py and config.json stay files on the board's filesystem: copy them with
# `mpremote fs cp`, and remove any firmware/ or drivers/ folder a `make deploy` left there
# (a file on the filesystem is found before a frozen module of the same name).

# The board's own frozen modules (network helpers, mip, umqtt.simple, ...).
include("$(PORT_DIR)/boards/manifest.py")

# MicroPython packages by their micropython-lib names (the ESP32 manifest already freezes
# umqtt.simple; a second require of it is skipped).
require("umqtt.simple")
require("ssd1306")

# Our code: every .py under firmware/ and drivers/, and the Chinese glyph table.
package("firmware")
package("drivers")
module("glyphs_zh.py", base_path="lib")
