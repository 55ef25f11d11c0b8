# First code on the device: every relay off before anything else runs, then nothing slow.
# The 74HC595's /OE is pulled up on the board, so its outputs are off from power-on; here
# it is driven high too (the chain is cleared by main.py), and direct-GPIO relays are
# driven to their off level. The pin map is the config's, else the reference board's.
import machine

try:
    from firmware.system.config import DEFAULT_PINS

    pins = dict(DEFAULT_PINS)
    try:
        import json

        with open("config.json") as f:
            pins.update(json.load(f).get("pins") or {})
    except (OSError, ValueError, AttributeError):
        pass
    if pins["relay_oe"] is not None:
        machine.Pin(pins["relay_oe"], machine.Pin.OUT, value=1)
    for g in pins["relay_gpio"] or ():
        machine.Pin(g, machine.Pin.OUT, value=0)
except Exception as e:  # never stop the boot here: main.py reports it and fails safe
    print("boot.py:", e)
