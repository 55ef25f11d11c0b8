# Front-panel bus time on the reference cabinet's I2C bus (drivers/cabinet.py I2C_HZ, held
# to 100 kHz by the keypad's PCF8574), measured on the virtual clock of the fake I2C.
# Prints `name value unit` lines.
#   .venv/bin/micropython tools/bench/bench_panel.py
import sys

sys.path[:0] = ["tools/sim", ".", "lib"]

import machine  # noqa: E402
import ssd1306  # noqa: E402
from oled_model import OledModel  # noqa: E402
from pcf8574_model import PCF8574Model  # noqa: E402
from vclock import CLOCK  # noqa: E402

from drivers.cabinet import I2C_HZ  # noqa: E402
from drivers.keypad import Keypad  # noqa: E402
from drivers.pcf8574 import PCF8574  # noqa: E402
from firmware.panel import ui  # noqa: E402
from firmware.panel import ui_text as T  # noqa: E402
from firmware.panel.display import Display  # noqa: E402


def main():
    machine.reset_board()
    machine.I2C.attach(0x3C, OledModel())
    chip = PCF8574Model()
    machine.I2C.attach(0x20, chip)
    bus = machine.I2C(0, freq=I2C_HZ)
    drv = ssd1306.SSD1306_I2C(128, 64, bus, 0x3C)
    disp = Display(drv, ui.Ui(drv, "zh"), CLOCK)
    disp.show(T.SESSION, (2, 3723, 123456, 789, {"minutes": 240}, "charging"))
    worst = 0
    while disp.busy():
        t0 = CLOCK.us
        if disp.step() >= 0:
            worst = max(worst, CLOCK.us - t0)
    t0 = CLOCK.us
    drv.show()
    whole = CLOCK.us - t0
    pcf = PCF8574(bus, 0x20)
    kp = Keypad([pcf.pin(b) for b in (0, 1, 2, 3)], [pcf.pin(b) for b in (4, 5, 6)], CLOCK)
    t0 = CLOCK.us
    kp.scan()
    idle = CLOCK.us - t0
    chip.held = {"5"}
    t0 = CLOCK.us
    kp.scan()
    held = CLOCK.us - t0
    print("i2c_bus_hz", I2C_HZ, "Hz")
    print("oled_page_push_us", worst, "us")
    print("oled_whole_show_us", whole, "us")
    print("keypad_scan_us_idle", idle, "us")
    print("keypad_scan_us_key_down", held, "us")


main()
