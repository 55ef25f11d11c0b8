# Cabinet configuration: defaults, schema and validation (shared by firmware and tools).
#
# validate() never raises on bad input: every bad or unknown value is reported as a
# problem naming the field and the value, and the field keeps its safe default. The
# contract keys (ARCHITECTURE.md "Config keys") keep their contract meanings.

# The simulator's documented test key ("sim-key-not-for-production" in hex). Real cabinets
# get a random key from tools/provision.
TEST_KEY = "73696d2d6b65792d6e6f742d666f722d70726f64756374696f6e"

# The ESP32 pin map of the reference cabinet (docs/wiring.md). GPIO numbers; None: absent.
DEFAULT_PINS = {
    "meter_uarts": [2],  # meter UART ids (1 or 2); UART0 is the REPL
    "meter_rx": [16],  # RX pin per UART, from its 74HC4067 common pin
    "meter_tx": [12],  # TX pin per UART: the BL0942 is asked, the HLW8032 is not (wiring.md)
    "mux_select": [25, 26, 27, 14],  # 74HC4067 S0..S3, shared by both multiplexers
    "relay_gpio": None,  # a list: one GPIO per relay instead of the 74HC595 chain
    "relay_data": 13,  # 74HC595 SER
    "relay_clock": 32,  # 74HC595 SRCLK
    "relay_latch": 33,  # 74HC595 RCLK
    "relay_oe": 4,  # 74HC595 /OE, pulled up on the board: outputs off until driven low
    "ct_adc": 39,  # CT cabinets: the ADC behind the CT multiplexer
    "ntc_adc": 36,  # cabinet NTC divider (ADC1)
    "smoke": 34,  # smoke detector relay contact, active low (external pull-up)
    "door": 35,  # door switch to GND while shut (external pull-up): high = open
    "service": 0,  # service button (BOOT), held at power-on: safe mode
    "spi_sck": 18, "spi_mosi": 23, "spi_miso": 19,
    "rfid_cs": 5, "rfid_rst": 15,
    "i2c_sda": 21, "i2c_scl": 22,  # SSD1306 OLED (0x3C) and the keypad's PCF8574
    "keypad_i2c": 32,  # PCF8574 address (0x20); None: rows and cols below are GPIOs
    "keypad_rows": [0, 1, 2, 3],  # 3x4 keypad rows (expander bits P0-P3)
    "keypad_cols": [4, 5, 6],  # columns (P4-P6)
    "buzzer": 2,  # active buzzer (and the DevKit's LED)
    "modem_uart": 1,  # net "ppp": the cellular modem's UART id ...
    "modem_tx": None,  # ... and its pins, always explicit (UART1's default TX is a flash
    "modem_rx": None,  # pin); e.g. 17 and 35 on a cabinet without the door switch
}

# What a WROOM-32 module allows each pin role (ESP32 datasheet 2.2 and the ESP32-WROOM-32
# datasheet; ESP-IDF ADC docs): GPIO 6-11 are the module's SPI flash, never usable;
# GPIO 34-39 are input only (no output driver, no pull resistors); ADC2 cannot be read
# while Wi-Fi runs, so analog inputs must be ADC1 channels, GPIO 32-39.
FLASH_GPIO = (6, 7, 8, 9, 10, 11)
INPUT_ONLY_GPIO = (34, 35, 36, 37, 38, 39)
ADC1_GPIO = (32, 33, 34, 35, 36, 37, 38, 39)
ADC2_GPIO = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)
METER_UART_IDS = (1, 2)  # UART0 is the USB REPL
# Pin roles in the pin map (keypad rows/cols are GPIOs only when keypad_i2c is none).
_OUTPUT_PINS = ("relay_gpio", "relay_data", "relay_clock", "relay_latch", "relay_oe",
                "mux_select", "meter_tx", "modem_tx", "spi_sck", "spi_mosi", "rfid_cs",
                "rfid_rst", "i2c_sda", "i2c_scl", "buzzer", "keypad_rows")
_TX_PINS = ("meter_tx", "modem_tx")  # a GPIO carries one output signal: no sharing
_HC595_PINS = ("relay_data", "relay_clock", "relay_latch", "relay_oe")  # unused with relay_gpio
_ADC_PINS = ("ct_adc", "ntc_adc")
_NOT_GPIO = ("meter_uarts", "modem_uart", "keypad_i2c")  # UART ids and an I2C address


def pin_problem(pins):
    """None when the pin map suits a WROOM module, else a reason naming field and pin."""
    uarts = pins.get("meter_uarts") or []
    for u in uarts:
        if u not in METER_UART_IDS:
            return "pins.meter_uarts: UART%s is not 1 or 2 (UART0 is the REPL)" % (u,)
    for name in ("meter_rx", "meter_tx"):  # every UART gets explicit pins
        got = pins.get(name) or []
        if len(got) != len(uarts) or None in got:
            return ("pins.%s: %r gives %d pins for %d meter_uarts; each UART needs its own"
                    " %s pin" % (name, got, len(got), len(uarts), name[-2:]))
    expander = pins.get("keypad_i2c") is not None
    for name in sorted(pins):
        if name in _NOT_GPIO or (expander and name in ("keypad_rows", "keypad_cols")):
            continue
        x = pins[name]
        for g in (x if isinstance(x, list) else [x]):
            if g is None:
                continue
            if g in FLASH_GPIO:
                return "pins.%s: GPIO%d is one of the module's SPI flash pins (GPIO 6-11)" % (
                    name, g)
            if name in _OUTPUT_PINS and g in INPUT_ONLY_GPIO:
                return "pins.%s: GPIO%d is input-only (GPIO 34-39), not an output" % (name, g)
            if name in _ADC_PINS and g not in ADC1_GPIO:
                if g in ADC2_GPIO:
                    return ("pins.%s: GPIO%d is on ADC2, which cannot be read while Wi-Fi is"
                            " on; use an ADC1 pin (GPIO 32-39)" % (name, g))
                return "pins.%s: GPIO%d has no ADC; use an ADC1 pin (GPIO 32-39)" % (name, g)
    return _tx_shared(pins, expander)


def _tx_shared(pins, expander):
    """A UART TX pin that another output also drives (the GPIO matrix keeps only one)."""
    owner = {}
    for name in _OUTPUT_PINS:
        if (expander and name == "keypad_rows") or (
                pins.get("relay_gpio") and name in _HC595_PINS):
            continue
        x = pins.get(name)
        for g in (x if isinstance(x, list) else [x]):
            if g is None:
                continue
            other = owner.get(g)
            if other is not None and (name in _TX_PINS or other in _TX_PINS):
                if other in _TX_PINS and name not in _TX_PINS:
                    name, other = other, name  # name the UART's field first
                return "pins.%s: GPIO%d is already pins.%s" % (name, g, other)
            owner[g] = name
    return None


# key: (kind, default, low, high[, LIVE]). kind: int, num, bool, str, hex, choice (low =
# choices), slots (None or 48 ints), tiers (None or [[max_w, fen_per_h], ...]). LIVE: a
# `config` command applies the key at once (App.configure); any other key is saved and
# takes effect at the next boot (the reply lists it under "restart").
LIVE = 1
SCHEMA = {
    "cabinet_id": ("str", "sim-001", 1, 32),
    "mqtt_prefix": ("str", "ebike", 1, 32),
    "cmd_key": ("hex", TEST_KEY, 16, 128),
    "ports": ("int", 10, 1, 16),
    "meter": ("choice", "hlw8032", ("hlw8032", "bl0942", "ct"), None),
    # protection
    "port_limit_a": ("num", 5.5, 0.5, 16, LIVE),
    "port_limit_w": ("num", 1000, 50, 3500, LIVE),
    "overpower_hold_s": ("num", 5, 1, 60, LIVE),
    "resistive_limit_w": ("num", 800, 50, 3500, LIVE),  # pf ~1 load above this is illegal
    "resistive_pf": ("num", 0.95, 0.8, 1.0, LIVE),
    "relay_weld_w": ("num", 5, 1, 100, LIVE),
    "meter_silent_s": ("num", 3, 1, 60),
    "cabinet_warn_c": ("num", 70, 30, 120, LIVE),
    "cabinet_stop_c": ("num", 85, 35, 130, LIVE),
    "temp_hyst_c": ("num", 5, 1, 20, LIVE),
    "door_open_s": ("num", 120, 10, 3600, LIVE),  # door open this long: `door_open` warning
    # end-of-charge judgement
    "full_w": ("num", 30, 2, 200, LIVE),
    "full_confirm_s": ("num", 300, 30, 7200, LIVE),
    "float_s": ("num", 2700, 0, 28800, LIVE),
    "taper_min_s": ("num", 60, 5, 3600, LIVE),
    "no_load_w": ("num", 3, 0.5, 50, LIVE),
    "no_load_s": ("num", 120, 30, 1800, LIVE),
    "unplug_w": ("num", 2.5, 0.1, 50, LIVE),
    "unplug_s": ("num", 300, 30, 3600, LIVE),
    "max_session_s": ("num", 43200, 600, 172800, LIVE),
    # orderly charging
    "feeder_limit_w": ("num", 8000, 200, 100000, LIVE),
    "feeder_full_action": ("choice", "defer", ("defer", "refuse"), None, LIVE),
    "start_reserve_w": ("num", 200, 0, 3500, LIVE),
    "relay_stagger_ms": ("int", 1000, 1000, 60000, LIVE),
    "offpeak_hour": ("int", 23, 0, 23, LIVE),
    "tz_offset_h": ("num", 8, -12, 14, LIVE),
    # billing
    "energy_fen_per_kwh": ("int", 52, 0, 10000, LIVE),
    "service_fen_per_kwh": ("int", 80, 0, 10000, LIVE),
    "tou_fen_per_kwh": ("slots", None, 0, 10000, LIVE),
    "tiers": ("tiers", None, 0, 100000, LIVE),
    # persistence
    "resume_after_power_loss": ("bool", True, None, None, LIVE),
    "checkpoint_s": ("num", 60, 10, 3600),
    # network and uplink (PROTOCOL.md); secrets come from tools/provision
    "net": ("choice", "wifi", ("wifi", "ppp", "none"), None),
    "wifi_ssid": ("text", "", 0, 32),
    "wifi_password": ("text", "", 0, 63),
    "ppp_apn": ("text", "cmnet", 0, 63),  # net "ppp": the SIM's access point name
    "ppp_user": ("text", "", 0, 64),  # "": no PAP authentication
    "ppp_password": ("text", "", 0, 64),
    "ntp_host": ("text", "ntp.aliyun.com", 0, 253),  # "": no NTP (the `time` command only)
    "mqtt_host": ("str", "127.0.0.1", 1, 253),
    "mqtt_port": ("int", 0, 0, 65535),  # 0: 1883, or 8883 with TLS
    "mqtt_user": ("str", "", 0, 64),  # "": connect without a user name
    "mqtt_password": ("text", "", 0, 64),
    "mqtt_tls": ("bool", False, None, None),
    "mqtt_ca_file": ("text", "", 0, 64),  # PEM CA on flash; TLS verifies the broker with it
    "mqtt_psk_identity": ("text", "", 0, 64),  # TLS-PSK identity; "": the cabinet id
    "mqtt_psk_key": ("hex", "", 0, 128),  # TLS-PSK key (hex); set: PSK instead of the CA
    "mqtt_keepalive_s": ("int", 60, 10, 600),
    "max_msg_bytes": ("int", 2048, 512, 16384),  # larger inbound messages are discarded
    "backlog_delay_s": ("num", 120, 0, 600),  # random delay before re-sending a backlog
    "telemetry_s": ("int", 120, 10, 3600, LIVE),  # while a session runs (protocol.md: budget)
    "telemetry_idle_s": ("int", 900, 60, 86400, LIVE),  # when every port is idle
    # residents
    "lang": ("choice", "zh", ("zh", "en"), None),
    "qr": ("bitrows", None, 21, 41),  # the cabinet's QR code, rows of '0'/'1', no quiet zone
    "pins": ("pins", DEFAULT_PINS, 0, 39),
    "wdt_s": ("int", 8, 2, 60),  # hardware watchdog over the main loop
    "boot_hold_s": ("num", 10, 0, 300),  # after power-on, wait before re-closing relays
}


def live(key):
    """True when a `config` command applies key at once (SCHEMA's 5th item)."""
    spec = SCHEMA.get(key)
    return spec is not None and len(spec) > 4 and spec[4] == LIVE


def defaults():
    return {k: v[1] for k, v in SCHEMA.items()}


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(kind, v, lo, hi):
    """Return None when v is acceptable, else the reason."""
    if kind == "bool":
        return None if isinstance(v, bool) else "is not true/false"
    if kind in ("int", "num"):
        if kind == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
            return "is not an integer"
        if not _is_num(v):
            return "is not a number"
        if v != v or v < lo or v > hi:
            return "is out of range %s-%s" % (lo, hi)
        return None
    if kind in ("str", "hex"):
        if not isinstance(v, str):
            return "is not a string"
        if not lo <= len(v) <= hi:
            return "has length %d, not %d-%d" % (len(v), lo, hi)
        if kind == "hex":
            if len(v) % 2 or any(c not in "0123456789abcdefABCDEF" for c in v):
                return "is not an even-length hex string"
        elif any(c in "/+#" or ord(c) < 33 for c in v):
            return "has a character not allowed in an MQTT topic level"
        return None
    if kind == "text":
        if not isinstance(v, str):
            return "is not a string"
        if not lo <= len(v) <= hi:
            return "has length %d, not %d-%d" % (len(v), lo, hi)
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            return "has a control character"
        return None
    if kind == "bitrows":
        if v is None:
            return None
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            return "is not a list of %d-%d rows" % (lo, hi)
        for row in v:
            if not isinstance(row, str) or len(row) != len(v) or row.strip("01"):
                return "has a row that is not %d '0'/'1' characters" % len(v)
        return None
    if kind == "pins":
        if not isinstance(v, dict):
            return "is not an object of pin numbers"
        for name in v:
            if name not in DEFAULT_PINS:
                return "has an unknown pin %r" % (name,)
            x = v[name]
            for g in (x if isinstance(x, list) else [x]):
                if g is not None and (not isinstance(g, int) or isinstance(g, bool)
                                      or not lo <= g <= hi):
                    return "has %s = %r, not a GPIO %d-%d" % (name, x, lo, hi)
        return None
    if kind == "choice":
        return None if v in lo else "is not one of %s" % ", ".join(lo)
    if kind == "slots":
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != 48:
            return "is not a list of 48 half-hour prices"
        for x in v:
            if not (isinstance(x, int) and not isinstance(x, bool)) or x < lo or x > hi:
                return "has a slot price that is not an integer %s-%s" % (lo, hi)
        return None
    if kind == "tiers":
        if v is None:
            return None
        if not isinstance(v, list) or not v:
            return "is not a list of [max_w, fen_per_h] pairs"
        last = -1
        for pair in v:
            # whole numbers, as billing.Tariff takes them (a config command is checked
            # here only: App.configure then builds the tariff and must not fail)
            if not isinstance(pair, list) or len(pair) != 2 \
                    or not all(_is_num(x) and -1e9 < x < 1e9 and x == int(x) for x in pair):
                return "has an entry that is not [max_w, fen_per_h] in whole numbers"
            if pair[0] <= last or pair[0] < 1 or pair[0] > 100000 or pair[1] < lo \
                    or pair[1] > hi:
                return "is not ascending in max_w with fen_per_h %s-%s" % (lo, hi)
            last = pair[0]
        return None
    return "has unknown kind %s" % kind


def validate(raw, base=None):
    """Merge `raw` over `base` (defaults when None). Returns (config, problems).

    Each problem is a string naming the field and the bad value; that field keeps the
    value it had in `base` (a safe default), so the cabinet can always run.
    """
    cfg = dict(base) if base is not None else defaults()
    problems = []
    if not isinstance(raw, dict):
        problems.append("config: %r is not a JSON object" % (raw,))
        return cfg, problems
    for k in raw:
        v = raw[k]
        spec = SCHEMA.get(k)
        if spec is None:
            problems.append("%s: unknown key (value %r ignored)" % (k, v))
            continue
        why = _check(spec[0], v, spec[2], spec[3])
        if why is not None:
            problems.append("%s: %r %s; using %r" % (k, v, why, cfg[k]))
        elif spec[0] == "pins":
            merged = dict(cfg[k])  # a partial pin map changes only the pins it names
            merged.update(v)
            why = pin_problem(merged)
            if why is not None:
                problems.append("%s; the whole pin map stays as it was" % why)
            else:
                cfg[k] = merged
        else:
            cfg[k] = v
    # Cross-field rules: thresholds that only make sense in order.
    if cfg["cabinet_stop_c"] <= cfg["cabinet_warn_c"]:
        problems.append("cabinet_stop_c: %r is not above cabinet_warn_c %r; using defaults"
                        % (cfg["cabinet_stop_c"], cfg["cabinet_warn_c"]))
        cfg["cabinet_warn_c"] = SCHEMA["cabinet_warn_c"][1]
        cfg["cabinet_stop_c"] = SCHEMA["cabinet_stop_c"][1]
    if cfg["unplug_w"] >= cfg["full_w"]:
        problems.append("unplug_w: %r is not below full_w %r; using defaults"
                        % (cfg["unplug_w"], cfg["full_w"]))
        cfg["unplug_w"], cfg["full_w"] = SCHEMA["unplug_w"][1], SCHEMA["full_w"][1]
    return cfg, problems


def load(path):
    """Read and validate the JSON config at path. Returns (config, problems); never raises.

    A missing or unreadable file, or bad JSON, gives the defaults and a problem naming
    the file, so the cabinet boots into a safe, known state and raises an alarm.
    """
    import json

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return defaults(), ["%s: missing (using defaults)" % path]
    try:
        raw = json.loads(data.decode())
    except (ValueError, UnicodeError):  # garbage bytes or bad JSON
        return defaults(), ["%s: not valid JSON (using defaults)" % path]
    return validate(raw)


def save(path, cfg):
    """Write the config atomically (temp file, then rename over the old one)."""
    import json
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(cfg))
    os.rename(tmp, path)
