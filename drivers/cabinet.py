# The real board: the config's pin map turned into drivers on `machine.*`.
#
# main.py calls build(cfg, machine, time) on the ESP32; tests call it on the MicroPython
# unix port with the fake machine (tools/sim) first on the path and the virtual clock, so
# the code that runs on the device is the code that is tested. Optional parts (card
# reader, keypad, display) that fail to answer are null parts (drivers/board.py) and are
# reported in `problems`: charging and protection never depend on them.

from drivers import board as contract

TYPE_CHECKING = False  # pyright reads the block below; the device never runs it
if TYPE_CHECKING:
    from typing import Any  # noqa: F401 (used in the type comments)

_EPOCH_2000 = 946684800  # seconds from 1970 to 2000 (the ESP32's epoch)
_NOT_SET_BEFORE = 1700000000  # a wall clock before Nov 2023 has not been set
_EPOCH_2024 = 1704067200  # 2024-01-01 00:00 UTC in Unix seconds


class Clock:
    """ticks_* from the time module; wall time as Unix epoch seconds on any port."""

    def __init__(self, time_mod):
        self._t = time_mod
        self.ticks_ms = time_mod.ticks_ms
        self.ticks_us = time_mod.ticks_us
        self.ticks_diff = time_mod.ticks_diff
        self.ticks_add = time_mod.ticks_add
        self.sleep_ms = time_mod.sleep_ms
        self.sleep_us = time_mod.sleep_us
        self.offset = _EPOCH_2000 if time_mod.gmtime(0)[0] == 2000 else 0

    def time(self):
        return self._t.time() + self.offset

    def since2024_s(self):
        """Seconds since 2024-01-01 00:00 UTC: the wall clock of the hot path (billing,
        off-peak). On the ESP32 (2000 epoch) it stays a small int (< 2**30) until 2058,
        where Unix seconds (1.76e9) are a long int, allocated on every call. Any midnight-
        UTC base gives the same time of day. Records keep Unix seconds (time())."""
        return self._t.time() - (_EPOCH_2024 - self.offset)  # 757382400 on a 2000 epoch

    @property
    def epoch_set(self):
        return self.time() >= _NOT_SET_BEFORE


def set_rtc(machine, time_mod, unix_s, ms=0):
    """Set the RTC from Unix seconds (NTP, the `time` command) on a port of either epoch
    (gmtime(0) in 2000 on the ESP32 builds, 1970 on the unix port)."""
    t = time_mod.gmtime(unix_s - (_EPOCH_2000 if time_mod.gmtime(0)[0] == 2000 else 0))
    machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], ms * 1000))


class Sensors(contract.Sensors):
    """The cabinet NTC, the smoke contact and the door switch (NO_DOOR when not wired);
    no port probes on this board."""

    def __init__(self, ntc, smoke, door):
        self.ntc = ntc
        self.smoke_in = smoke
        self.door_in = door

    def cabinet_c10(self):
        c10, fault = self.ntc.read()
        return None if fault else c10

    def smoke(self):
        self.smoke_in.update()
        return self.smoke_in.active


class CabinetBoard(contract.Board):
    """The reference cabinet: the parts build() fitted, a service button when wired."""

    service = None  # type: Any

    def service_held(self):
        return self.service is not None and self.service.value() == 0


# One I2C bus carries the SSD1306 (400 kHz max) and the keypad's PCF8574 (datasheet:
# f_SCL 100 kHz max): the bus runs at the slower part's limit. A page of the OLED then
# takes ~12 ms (firmware/panel/display.py pushes one page per tick).
I2C_HZ = 100000
RFID_SPI_HZ = 5000000  # MFRC522: up to 10 MHz (datasheet 8.1.2); 5 MHz leaves margin

def build(cfg, machine, time_mod, clock=None):
    """Build the Board from cfg["pins"]. Relays first (all off), then everything else."""
    from drivers.inputs import Debounced
    from drivers.ntc import NTC
    from drivers.relays import HC595Relays, PinRelays
    from firmware.system.config import pin_problem

    pins = cfg["pins"]
    why = pin_problem(pins)
    if why is not None:
        raise ValueError("config " + why)
    Pin = machine.Pin
    b = CabinetBoard()
    b.clock = clock or Clock(time_mod)
    n = cfg["ports"]
    if pins["relay_gpio"]:
        b.relays = PinRelays([Pin(g) for g in pins["relay_gpio"][:n]])
    else:
        oe = Pin(pins["relay_oe"]) if pins["relay_oe"] is not None else None
        b.relays = HC595Relays(n, Pin(pins["relay_latch"]), data=Pin(pins["relay_data"]),
                               clk=Pin(pins["relay_clock"]), oe=oe)
    b.meters = build_meters(cfg, machine, b.clock)
    ntc = NTC(machine.ADC(Pin(pins["ntc_adc"]), atten=machine.ADC.ATTN_11DB))
    smoke = Debounced(Pin(pins["smoke"], Pin.IN), b.clock, 50, active_low=True)
    door = contract.NO_DOOR
    if pins["door"] is not None:
        # contact to GND while the door is shut, pulled up when it opens: high = open
        door = Debounced(Pin(pins["door"], Pin.IN), b.clock, 50)
    b.sensors = Sensors(ntc, smoke, door)
    if pins["service"] is not None:
        b.service = Pin(pins["service"], Pin.IN, Pin.PULL_UP)
    if pins["buzzer"] is not None:
        b.buzzer = Pin(pins["buzzer"], Pin.OUT, value=0)
    _optional(b, machine, pins)
    return b


def meter_chip(name):
    """The scanner's chip object for config "meter" (hlw8032 or bl0942)."""
    if name == "bl0942":
        from drivers.bl0942 import Chip

        return Chip()  # address 0 on every port: one chip per multiplexer channel
    if name == "hlw8032":
        from drivers.hlw8032 import Chip

        return Chip()
    raise ValueError("config meter %r has no UART chip" % (name,))


def build_meters(cfg, machine, clock):
    """The cabinet's meters from config "meter": "hlw8032" | "bl0942" | "ct"."""
    Pin = machine.Pin
    pins = cfg["pins"]
    n = cfg["ports"]
    silent_ms = int(cfg["meter_silent_s"] * 1000)
    select = [Pin(g, Pin.OUT, value=0) for g in pins["mux_select"]]
    if cfg["meter"] == "ct":
        from drivers.ct import CTMeters, a_per_count

        adc = machine.ADC(Pin(pins["ct_adc"]), atten=machine.ADC.ATTN_11DB)
        return CTMeters(adc, select, n, clock, a_per_count(1000, 40), silent_ms=silent_ms)
    from drivers.meterscan import MeterScanner

    chip = meter_chip(cfg["meter"])
    baud, bits, parity, stop = chip.line
    # Explicit tx= on every UART: UART1's default TX is GPIO10, a flash pin on WROOM. The
    # BL0942 is asked through TX (a second 74HC4067 on the same select lines, wiring.md).
    uarts = [machine.UART(u, baudrate=baud, bits=bits, parity=parity, stop=stop, tx=tx,
                          rx=rx, rxbuf=256)
             for u, rx, tx in zip(pins["meter_uarts"], pins["meter_rx"], pins["meter_tx"])]
    return MeterScanner(uarts, select, n, clock, silent_ms=silent_ms, chip=chip)


def _optional(b, machine, pins):
    """Card reader, keypad and display: each may be missing; none stops charging."""
    Pin = machine.Pin
    try:
        from drivers.mfrc522 import MFRC522

        spi = machine.SPI(1, baudrate=RFID_SPI_HZ, sck=Pin(pins["spi_sck"]),
                          mosi=Pin(pins["spi_mosi"]), miso=Pin(pins["spi_miso"]))
        rst = Pin(pins["rfid_rst"]) if pins["rfid_rst"] is not None else None
        b.reader = MFRC522(spi, Pin(pins["rfid_cs"]), b.clock, rst=rst)
    except (OSError, ValueError) as e:
        b.problems.append("card reader: %s" % (e,))
    i2c = None
    try:
        i2c = machine.I2C(0, scl=Pin(pins["i2c_scl"]), sda=Pin(pins["i2c_sda"]), freq=I2C_HZ)
    except (OSError, ValueError) as e:
        b.problems.append("i2c: %s" % (e,))
    if i2c is not None:
        try:
            from drivers.keypad import Keypad

            if pins["keypad_i2c"] is not None:
                from drivers.pcf8574 import PCF8574

                chip = PCF8574(i2c, pins["keypad_i2c"])
                rows = [chip.pin(x) for x in pins["keypad_rows"]]
                cols = [chip.pin(x) for x in pins["keypad_cols"]]
            else:
                rows = [Pin(x) for x in pins["keypad_rows"]]
                cols = [Pin(x) for x in pins["keypad_cols"]]
            b.keypad = Keypad(rows, cols, b.clock)
        except (OSError, ValueError) as e:
            b.problems.append("keypad: %s" % (e,))
        try:
            from ssd1306 import SSD1306_I2C

            b.display = SSD1306_I2C(128, 64, i2c)
        except (OSError, ValueError, ImportError) as e:
            b.problems.append("display: %s" % (e,))
