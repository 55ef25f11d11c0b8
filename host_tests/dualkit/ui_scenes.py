# Every screen of firmware/ui with typical parameters, drawn through the real ssd1306
# driver onto the virtual OLED (tools/sim/oled_model): shared by the dual screen tests
# and host_tests/panel/test_screens_png.py.
import machine
import ssd1306
from oled_model import OledModel

from firmware.panel import ui
from firmware.panel import ui_text as T

ADDR = 0x3C
STATES_10 = ("idle", "charging", "float", "idle", "locked", "open", "fault", "idle",
             "deferred", "ended")
STATES_16 = STATES_10 + ("idle", "charging", "idle", "locked", "idle", "charging")
# A stand-in matrix for the device tests (a QR reader test makes a real one with segno)
TEST_QR = ["1" * 21] + ["1" + "0" * 19 + "1"] * 19 + ["1" * 21]

SCENES = (
    ("idle", T.IDLE, ("sim-001", 7, 10, 8 * 60 + 5)),
    ("idle_no_clock", T.IDLE, ("cab-0123456789", 0, 16, None)),
    ("grid", T.GRID, (STATES_10,)),
    ("grid16", T.GRID, (STATES_16,)),
    ("choose", T.CHOOSE, ("3", STATES_10, None)),
    ("choose_bad", T.CHOOSE, ("", STATES_10, T.BAD_PORT)),
    ("confirm", T.CONFIRM, (2,)),
    ("auth", T.AUTH, (2,)),
    ("session", T.SESSION, (2, 3723, 123456, 789, {"minutes": 240}, "charging")),
    ("session_fen", T.SESSION, (9, 40000, 1500000, 1234, {"fen": 1000}, "charging")),
    ("session_wh", T.SESSION, (0, 59, 0, 0, {"wh": 1500}, "open")),
    ("session_full", T.SESSION, (15, 43199, 9999900, 99999, {"full": True}, "float")),
    ("alarm", T.ALARM, ("smoke", None)),
    ("alarm_port", T.ALARM, ("overcurrent", 4)),
    ("alarm_unknown", T.ALARM, ("something_new", 1)),
    ("msg_started", T.MSG, (T.STARTED, 2)),
    ("msg_stopped", T.MSG, (T.STOPPED, 2)),
    ("msg_busy", T.MSG, ("port_busy", None)),
    ("msg_locked", T.MSG, ("port_locked", None)),
    ("msg_fault", T.MSG, ("port_fault", None)),
    ("msg_feeder", T.MSG, ("feeder_full", None)),
    ("msg_bad_args", T.MSG, ("bad_args", None)),
    ("msg_denied", T.MSG, (T.CARD_DENIED, None)),
    ("msg_offline", T.MSG, (T.OFFLINE_UNKNOWN, None)),
    ("msg_timeout", T.MSG, (T.TIMEOUT, None)),
    ("msg_failed", T.MSG, (T.FAILED, None)),
    ("msg_swipe_first", T.MSG, (T.SWIPE_FIRST, None)),
    ("qr", T.QR, ("sim-001",)),
)


def panel():
    """A fresh virtual board with the OLED model on I2C and the real driver on it."""
    machine.reset_board()
    model = OledModel()
    machine.I2C.attach(ADDR, model)
    drv = ssd1306.SSD1306_I2C(128, 64, machine.I2C(0, freq=400000), addr=ADDR)
    return model, drv


def render_all(lang, qr=TEST_QR, scenes=SCENES):
    """[(name, 1024-byte frame as the panel shows it)] for every scene."""
    model, drv = panel()
    u = ui.Ui(drv, lang, qr)
    out = []
    for name, screen, params in scenes:
        u.draw(screen, params)
        drv.show()
        out.append((name, bytes(model.image())))
    return out
