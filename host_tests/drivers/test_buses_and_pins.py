# Bus speed limits and WROOM pin rules: the fake machine refuses what a real board would,
# and the board factory (drivers/cabinet.py) and config validation keep to the limits.
import machine
from mfrc522_chip import MFRC522Chip
from oled_model import OledModel
from pcf8574_model import PCF8574Model
from vclock import CLOCK

from drivers import cabinet
from drivers.keypad import Keypad
from drivers.mfrc522 import MFRC522
from drivers.pcf8574 import PCF8574
from firmware.system import config

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

KEYPAD_ADDR = 0x20
OLED_ADDR = 0x3C


def _raises(exc, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc as e:
        return str(e)
    raise AssertionError("%s not raised" % exc.__name__)


def test_pcf8574_does_not_ack_above_100_khz():
    machine.reset_board()
    machine.I2C.attach(KEYPAD_ADDR, PCF8574Model())
    fast = machine.I2C(0, freq=400000)
    _raises(OSError, PCF8574, fast, KEYPAD_ADDR)
    assert KEYPAD_ADDR not in fast.scan() and fast.naks >= 1
    slow = machine.I2C(0, freq=100000)
    assert slow.scan() == [KEYPAD_ADDR]
    PCF8574(slow, KEYPAD_ADDR)


def test_ssd1306_does_not_ack_above_400_khz():
    import ssd1306

    machine.reset_board()
    machine.I2C.attach(OLED_ADDR, OledModel())
    _raises(OSError, ssd1306.SSD1306_I2C, 128, 64, machine.I2C(0, freq=1000000), OLED_ADDR)
    ssd1306.SSD1306_I2C(128, 64, machine.I2C(0, freq=400000), OLED_ADDR)


def test_mfrc522_reads_garbage_above_10_mhz():
    machine.reset_board()
    MFRC522Chip(5)
    cs = machine.Pin(5, machine.Pin.OUT, value=1)
    fast = machine.SPI(1, baudrate=20000000)
    r = MFRC522(fast, cs, CLOCK)
    assert not r.healthy and fast.garbled > 0
    ok = MFRC522(machine.SPI(1, baudrate=10000000), cs, CLOCK)
    assert ok.healthy and ok.version == 0x92


def test_keypad_through_the_expander_at_100_khz_decodes_keys():
    machine.reset_board()
    chip = PCF8574Model()
    machine.I2C.attach(KEYPAD_ADDR, chip)
    pcf = PCF8574(machine.I2C(0, freq=100000), KEYPAD_ADDR)
    kp = Keypad([pcf.pin(b) for b in (0, 1, 2, 3)], [pcf.pin(b) for b in (4, 5, 6)], CLOCK)
    got = []
    for key in "5#0":
        chip.held = {key}
        for _ in range(4):
            CLOCK.advance_ms(20)
            k = kp.scan()
            if k:
                got.append(k)
        chip.held = set()
        for _ in range(4):
            CLOCK.advance_ms(20)
            kp.scan()
    assert got == ["5", "#", "0"], got


def _reference_parts():
    machine.reset_board()
    chip = PCF8574Model()
    oled = OledModel()
    machine.I2C.attach(KEYPAD_ADDR, chip)
    machine.I2C.attach(OLED_ADDR, oled)
    machine.Pin.drive(config.DEFAULT_PINS["smoke"], 1)
    return chip, oled


def test_board_factory_runs_keypad_and_oled_on_one_legal_bus():
    _reference_parts()
    cfg = config.defaults()
    b = cabinet.build(cfg, machine, None, clock=CLOCK)
    assert b.keypad is not None and b.display is not None, b.problems
    assert not [p for p in b.problems if "keypad" in p or "display" in p], b.problems
    assert b.display.i2c.freq <= PCF8574Model.MAX_HZ


def test_board_factory_gives_every_meter_uart_explicit_pins():
    _reference_parts()
    cfg = config.defaults()
    b = cabinet.build(cfg, machine, None, clock=CLOCK)
    for u in b.meters.uarts:
        assert u.tx == 12 and u.rx == 16, (u.tx, u.rx)
    pins = dict(cfg["pins"])
    pins["meter_uarts"] = [2, 1]
    pins["meter_rx"] = [16, 12]  # a second UART, but no TX pin given for it
    cfg["pins"] = pins
    why = _raises(ValueError, cabinet.build, cfg, machine, None, clock=CLOCK)
    assert "pins.meter_tx" in why, why


def test_fake_uart_refuses_default_and_flash_pins():
    machine.reset_board()
    why = _raises(ValueError, machine.UART, 1, baudrate=4800, rx=16)
    assert "TX 10" in why, why  # UART1's default TX is a flash pin
    _raises(ValueError, machine.UART, 2, baudrate=4800, tx=17)
    _raises(ValueError, machine.UART, 1, baudrate=4800, tx=10, rx=16)
    _raises(ValueError, machine.UART, 1, baudrate=4800, tx=35, rx=16)
    u = machine.UART(1, baudrate=4800, tx=4, rx=12)
    u.init(9600)  # re-init without pins keeps them, as the port does
    assert (u.tx, u.rx, u.baudrate) == (4, 12, 9600)


# (partial pin map, the field and pin the problem must name)
BAD_PINS = (
    ({"buzzer": 10}, "pins.buzzer: GPIO10"),
    ({"spi_miso": 7}, "pins.spi_miso: GPIO7"),  # flash pins are no inputs either
    ({"relay_latch": 35}, "pins.relay_latch: GPIO35 is input-only"),
    ({"mux_select": [25, 26, 27, 34]}, "pins.mux_select: GPIO34 is input-only"),
    ({"rfid_cs": 36}, "pins.rfid_cs: GPIO36 is input-only"),
    ({"relay_gpio": [13, 39]}, "pins.relay_gpio: GPIO39 is input-only"),
    ({"meter_tx": [38]}, "pins.meter_tx: GPIO38 is input-only"),
    ({"ntc_adc": 25}, "pins.ntc_adc: GPIO25 is on ADC2"),
    ({"ct_adc": 4}, "pins.ct_adc: GPIO4 is on ADC2"),
    ({"ntc_adc": 5}, "pins.ntc_adc: GPIO5 has no ADC"),
    ({"keypad_i2c": None, "keypad_rows": [36, 1, 2, 3], "keypad_cols": [4, 5, 12]},
     "pins.keypad_rows: GPIO36"),
    ({"meter_uarts": [2, 1], "meter_rx": [16, 12]}, "pins.meter_tx"),
    ({"meter_uarts": [0]}, "pins.meter_uarts: UART0"),
    ({"modem_tx": 35, "modem_rx": 17}, "pins.modem_tx: GPIO35 is input-only"),
    ({"modem_tx": 12, "modem_rx": 35}, "pins.modem_tx: GPIO12 is already pins.meter_tx"),
    ({"meter_uarts": [2, 1], "meter_rx": [16, 39], "meter_tx": [12, 12]},
     "pins.meter_tx: GPIO12 is already pins.meter_tx"),
    ({"modem_tx": 23, "modem_rx": 35}, "pins.modem_tx: GPIO23 is already pins.spi_mosi"),
)


def test_config_refuses_pins_a_wroom_cannot_use_and_keeps_the_old_map():
    for raw, want in BAD_PINS:
        cfg, problems = config.validate({"pins": raw})
        assert len(problems) == 1 and want in problems[0], (raw, problems)
        assert cfg["pins"] == config.DEFAULT_PINS, raw


def test_config_accepts_good_pin_maps():
    for raw in ({"ntc_adc": 39, "ct_adc": 32}, {"smoke": 36, "door": 39},
                {"meter_uarts": [2, 1], "meter_rx": [16, 39], "meter_tx": [12, 17]},
                {"modem_tx": 17, "modem_rx": 35},  # net "ppp": docs/wiring.md's example
                {"keypad_cols": [4, 5, 6]}):  # expander bits, not GPIO 6
        cfg, problems = config.validate({"pins": raw})
        assert problems == [], (raw, problems)
        for k in raw:
            assert cfg["pins"][k] == raw[k]
    assert config.pin_problem(config.DEFAULT_PINS) is None


def test_board_factory_refuses_a_bad_map_it_is_handed():
    machine.reset_board()
    for raw, want in BAD_PINS:
        cfg = config.defaults()
        pins = dict(cfg["pins"])
        pins.update(raw)
        cfg["pins"] = pins
        why = _raises(ValueError, cabinet.build, cfg, machine, None, clock=CLOCK)
        assert want in why, (raw, why)


TICK_MS = 20  # main.py's control tick


def test_oled_page_and_keypad_scan_fit_one_tick_at_100_khz():
    # firmware/panel/display.py pushes at most one 128-byte page per tick; at the bus speed the
    # PCF8574 allows, that page and a keypad scan with a key down must fit in a tick.
    import ssd1306

    from firmware.panel import ui
    from firmware.panel import ui_text as T
    from firmware.panel.display import Display

    machine.reset_board()
    machine.I2C.attach(OLED_ADDR, OledModel())
    chip = PCF8574Model()
    machine.I2C.attach(KEYPAD_ADDR, chip)
    bus = machine.I2C(0, freq=cabinet.I2C_HZ)
    drv = ssd1306.SSD1306_I2C(128, 64, bus, OLED_ADDR)
    disp = Display(drv, ui.Ui(drv, "zh"), CLOCK)
    disp.show(T.SESSION, (2, 3723, 123456, 789, {"minutes": 240}, "charging"))
    worst_page_us = 0
    pages = 0
    while disp.busy():
        t0 = CLOCK.us
        if disp.step() >= 0:
            pages += 1
            worst_page_us = max(worst_page_us, CLOCK.us - t0)
    pcf = PCF8574(bus, KEYPAD_ADDR)
    kp = Keypad([pcf.pin(b) for b in (0, 1, 2, 3)], [pcf.pin(b) for b in (4, 5, 6)], CLOCK)
    chip.held = {"8"}
    t0 = CLOCK.us
    kp.scan()
    scan_us = CLOCK.us - t0
    assert pages == 8
    assert worst_page_us < 14000, worst_page_us  # 129 bytes at 9 bits / 100 kHz + commands
    assert worst_page_us + scan_us < TICK_MS * 1000, (worst_page_us, scan_us)
