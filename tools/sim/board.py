# The virtual cabinet: ports with relays, meters, chargers and faults on virtual time.
#
# The firmware sees the same board object as on the ESP32 (clock, meters, relays,
# sensors). The meter is the cabinet's chip, never silently another:
#   "hlw8032" (default), "bl0942" or "ct" (METERS); anything else is a ValueError.
# Two meter fidelities:
# - "bytes": every port has its chip's emulator behind the multiplexer, read by the real
#   driver: HLW8032 frames streaming at 4800 8E1, BL0942 packets answering the scanner's
#   requests at 4800 8N1 (drivers/meterscan.py), CT waveforms on the ADC (drivers/ct.py).
#   Byte-exact, and slow: use it for protection and driver paths.
# - "model": readings taken from the physics, one port per slot of the chip's visit
#   (HLW8032 100 ms, BL0942 60 ms, CT 40 ms), as that chip reports them: the HLW8032
#   exact, the BL0942 through its registers (packet encoded and decoded by the driver,
#   energy in whole CF counts of 0.187 Wh), the CT with the nominal voltage and the
#   assumed power factor of drivers/ct.py. For long days and randomised campaigns.
# The physical world (plugged chargers, their state of charge, faults) lives here and
# carries on across a firmware restart.

import chargers
import machine
from bl0942_emu import BL0942Emu, fill_packet
from hlw8032_emu import HLW8032Emu
from ntc_model import NTCModel
from relay_model import Relay
from rxmux import RxMux
from vclock import CLOCK

from drivers import bl0942, hlw8032
from drivers import board as contract
from drivers.inputs import Debounced
from drivers.meterscan import MeterScanner
from drivers.ntc import NTC
from drivers.relays import PinRelays

VOLTS = 220.0
RELAY_PINS = (13, 12, 15, 2, 17, 18, 19, 21, 22, 23, 5, 4, 32, 33, 0, 3)
SELECT_PINS = (25, 26, 27, 14)  # 74HC4067 S0..S3
METER_UART = 2
METER_RX = 16
METER_TX = 130  # a virtual pin id (the relay map above uses GPIO17)
NTC_PIN = 36
SMOKE_PIN = 34  # smoke detector relay contact, active low
DOOR_PIN = 35  # door switch: contact to GND while shut, pulled up (high) when open
# Front-panel parts on pin ids of their own (the virtual board is not the ESP32's pin map;
# main.py's factory test covers that): card reader chip select, keypad, buzzer.
RFID_CS = 105
KEY_ROWS = (110, 111, 112, 113)
KEY_COLS = (114, 115, 116)
BUZZER_PIN = 120
OLED_ADDR = 0x3C
PHYSICS_MS = 1000  # charger physics step (see VirtualBoard.step)
METERS = ("hlw8032", "bl0942", "ct")
# model meter: one port per slot, the chip's visit on one UART (or one CT window)
_SLOT_MS = {"hlw8032": 100, "bl0942": 60, "ct": 40}
CT_ADC_PIN = 39  # the CTs' multiplexer on an ADC1 pin of its own (the NTC is on 36)
CT_NOMINAL_V = 230  # drivers/ct.py CTMeters defaults: a CT sees no voltage ...
CT_PF_PCT = 60  # ... and no phase: power = nominal V x RMS A x assumed power factor


def check_meter(meter):
    if meter not in METERS:
        raise ValueError("meter %r is not one of %s" % (meter, ", ".join(METERS)))


class ModelMeters(contract.Meters):
    """Scanner-compatible readings computed from the board's physics, as `kind` reports
    them (see the header)."""

    def __init__(self, board, n, silent_ms=3000, kind="hlw8032"):
        check_meter(kind)
        self.board = board
        self.n = n
        self.kind = kind
        self.silent_ms = silent_ms
        now = CLOCK.ticks_ms()
        self.mv = [0] * n
        self.ma = [0] * n
        self.mw = [0] * n
        self.energy_mwh = [0] * n
        self.pulses = [0] * n
        self.frames = [0] * n
        self.seen_ms = [now] * n
        self.slot_ms = _SLOT_MS[kind]
        self.sweep_ms = self.slot_ms * n
        self._next = 0
        self._due_us = CLOCK.us
        if kind == "bl0942":
            self._chip = bl0942.Chip()
            self._cf = [self._chip.energy() for _ in range(n)]
            self._pkt = bytearray(bl0942.PACKET_LEN)
            self._out = bl0942.new_out()
        elif kind == "ct":
            self._ct_rem = [0.0] * n

    def poll(self):
        b = self.board
        while CLOCK.us >= self._due_us:
            p = self._next
            self._next = (p + 1) % self.n
            self._due_us += self.slot_ms * 1000
            if b.meter_fault[p] is not None:
                continue
            w = b.watts[p]
            pf = b.pfs[p] or 1.0
            amps = w / (VOLTS * pf) if w > 0 else 0.0
            if self.kind == "bl0942":
                self._bl0942(p, w, amps)
            elif self.kind == "ct":
                self._ct(p, amps)
            else:
                self.mw[p] = int(w * 1000)
                self.mv[p] = int(VOLTS * 1000)
                self.ma[p] = int(amps * 1000)
                self.energy_mwh[p] = int(b.true_mwh[p])
            self.frames[p] += 1
            self.seen_ms[p] = CLOCK.ticks_ms()

    def _bl0942(self, p, w, amps):
        # The chip's registers for this load, through the driver's decoder; energy in
        # the whole CF counts the chip would have made of the true energy.
        chip = self._chip
        e = self._cf[p]
        count = int(self.board.true_mwh[p] * 1000 // chip.scale.uwh_per_cf) & 0xFFFFFF
        fill_packet(self._pkt, VOLTS, amps, w, count)
        out = self._out
        if bl0942.decode_into(self._pkt, 0, out, chip.cmd, chip.scale) != bl0942.OK:
            raise AssertionError("the emulator's packet did not decode")
        self.mv[p] = out[bl0942.V_MV]
        self.ma[p] = out[bl0942.I_MA]
        self.mw[p] = out[bl0942.P_MW]
        e.take(out, self.sweep_ms if self.frames[p] else -1)
        self.energy_mwh[p] = e.mwh
        self.pulses[p] = e.pulses

    def _ct(self, p, amps):
        ma = int(amps * 1000)
        mw = CT_NOMINAL_V * ma * CT_PF_PCT // 100
        if self.frames[p]:  # trapezoid over the port's visit interval, as CTMeters
            self._ct_rem[p] += (self.mw[p] + mw) / 2 * self.sweep_ms / 3600000.0
            whole = int(self._ct_rem[p])
            self.energy_mwh[p] += whole
            self._ct_rem[p] -= whole
        self.mv[p] = CT_NOMINAL_V * 1000
        self.ma[p] = ma
        self.mw[p] = mw

    def age_ms(self, p):
        return CLOCK.ticks_diff(CLOCK.ticks_ms(), self.seen_ms[p])

    def silent(self, p):
        return self.age_ms(p) >= self.silent_ms

    def garbage(self, p):
        return self.board.meter_fault[p] == "meter_garbage"


class SimSensors(contract.Sensors):
    """The cabinet NTC (drivers/ntc.py on a fake ADC) and the smoke input (debounced)."""

    def __init__(self, board):
        self.board = board
        self.ntc_model = NTCModel(25.0)
        machine.ADC.connect(NTC_PIN, self.ntc_model.volts)
        self.ntc = NTC(machine.ADC(machine.Pin(NTC_PIN), atten=machine.ADC.ATTN_11DB))
        machine.Pin.drive(SMOKE_PIN, 1)
        self.smoke_in = Debounced(machine.Pin(SMOKE_PIN, machine.Pin.IN), CLOCK, 50,
                                  active_low=True)
        machine.Pin.drive(DOOR_PIN, 0)  # shut
        self.door_in = Debounced(machine.Pin(DOOR_PIN, machine.Pin.IN), CLOCK, 50)

    def cabinet_c10(self):
        c10, fault = self.ntc.read()
        return None if fault else c10

    def port_c10(self, p):
        c = self.board.port_c[p]
        return None if c is None else int(c * 10)

    def smoke(self):
        self.smoke_in.update()
        return self.smoke_in.active


class VirtualBoard(contract.Board):
    """The board contract (drivers/board.py) on models: every part fitted."""

    def __init__(self, ports, meter="hlw8032", seed=1, fidelity="model", silent_ms=3000):
        contract.Board.__init__(self)
        if fidelity not in ("model", "bytes"):
            raise ValueError("fidelity %r is not model or bytes" % (fidelity,))
        machine.reset_board()
        self.n = ports
        self.clock = CLOCK
        self.seed = seed
        self.loads = [None] * ports  # plugged charger models
        self.specs = [None] * ports  # [plug spec, seed] of each, to rebuild them
        self.fault_loads = [None] * ports  # short / overload / heater in place of the charger
        self.welded = [False] * ports
        self.meter_fault = [None] * ports
        self.watts = [0.0] * ports
        self.pfs = [1.0] * ports
        self.true_mwh = [0.0] * ports  # energy that really flowed (test truth)
        self.acc_ms = [0] * ports  # time not yet given to the charger physics
        self.powered = [False] * ports
        self.dirty = [False] * ports  # the load changed: recompute in the next step
        self.port_c = [None] * ports
        pins = [machine.Pin(RELAY_PINS[i], machine.Pin.OUT, value=0) for i in range(ports)]
        self.contacts_model = [Relay.on_pin(RELAY_PINS[i]) for i in range(ports)]
        self.relays = PinRelays(pins)
        self.sensors = SimSensors(self)
        self._panel_parts()
        self.fidelity = fidelity
        check_meter(meter)
        self.meter = meter
        self.emus = None
        self.ct_chans = None
        if fidelity == "bytes":
            self.meters = self._byte_meters(meter, seed, silent_ms)
            self.tick_ms = 20
        else:
            self.meters = ModelMeters(self, ports, silent_ms, meter)
            self.tick_ms = 250
        self._plugs = 0

    def _byte_meters(self, meter, seed, silent_ms):
        """Every port's chip model behind the multiplexer, read by the real driver."""
        select = [machine.Pin(i, machine.Pin.OUT, value=0) for i in SELECT_PINS]
        ports = self.n
        if meter == "ct":
            from ct_source import CTChannel, Mux

            from drivers.ct import CTMeters, a_per_count

            self.mux = Mux(SELECT_PINS, CT_ADC_PIN)
            self.ct_chans = [CTChannel(phase_deg=29.0 * p) for p in range(ports)]
            for p in range(ports):
                self.mux.attach(p, self.ct_chans[p])
            adc = machine.ADC(machine.Pin(CT_ADC_PIN), atten=machine.ADC.ATTN_11DB)
            return CTMeters(adc, select, ports, CLOCK, a_per_count(1000, 40),
                            nominal_v=CT_NOMINAL_V, pf_pct=CT_PF_PCT, silent_ms=silent_ms)
        if meter == "bl0942":
            # Request/reply: the scanner's TX reaches the selected chip through the mux.
            chip = bl0942.Chip()
            self.emus = [BL0942Emu(volts=VOLTS, amps=0.0, pf=1.0, seed=seed + p)
                         for p in range(ports)]
        else:
            # Every port's HLW8032 streams real frames into one UART through the RX mux.
            chip = hlw8032.Chip()
            self.emus = [HLW8032Emu(volts=VOLTS, amps=0.0, pf=1.0, seed=seed + p,
                                    phase_us=(seed * 7919 + p * 13331) % 55000)
                         for p in range(ports)]
        baud, bits, parity, stop = chip.line
        uart = machine.UART(METER_UART, baudrate=baud, bits=bits, parity=parity, stop=stop,
                            tx=METER_TX, rx=METER_RX, rxbuf=256)
        self.mux = RxMux(select, self.emus, uart)
        return MeterScanner([uart], select, ports, CLOCK, silent_ms=silent_ms, chip=chip)

    def _panel_parts(self):
        """Card reader, keypad, OLED and buzzer: real drivers on register-level models."""
        from keypad_model import KeypadModel
        from mfrc522_chip import MFRC522Chip
        from oled_model import OledModel
        from ssd1306 import SSD1306_I2C

        from drivers.keypad import Keypad
        from drivers.mfrc522 import MFRC522

        self.card_chip = MFRC522Chip(RFID_CS)
        machine.SPI.attach(RFID_CS, self.card_chip)
        self.reader = MFRC522(machine.SPI(1, baudrate=5000000), machine.Pin(RFID_CS), CLOCK)
        self.keypad_model = KeypadModel(KEY_ROWS, KEY_COLS)
        self.keypad = Keypad([machine.Pin(i) for i in KEY_ROWS],
                             [machine.Pin(i) for i in KEY_COLS], CLOCK)
        self.oled = OledModel()
        machine.I2C.attach(OLED_ADDR, self.oled)
        # 400 kHz is legal here: this board's keypad is on GPIOs, the OLED is alone on the
        # bus (the reference cabinet's PCF8574 holds its bus to 100 kHz: drivers/cabinet.py).
        self.display = SSD1306_I2C(128, 64, machine.I2C(0, freq=400000), OLED_ADDR)
        self.buzzer = machine.Pin(BUZZER_PIN, machine.Pin.OUT, value=0)
        self._card_until_us = 0

    def swipe(self, card_hex, hold_ms=1000):
        """A card held to the reader for hold_ms."""
        self.card_chip.present([card_hex])
        self._card_until_us = CLOCK.us + hold_ms * 1000

    def keys(self, text, press_ms=600, gap_ms=300, after_ms=0):
        """Keys pressed one after another (long enough for any control tick)."""
        after = after_ms
        for k in text:
            self.keypad_model.press(k, press_ms, after_ms=after)
            after += press_ms + gap_ms

    # --- the physical world ---
    def plug(self, p, spec):
        self.dirty[p] = True
        self._plugs += 1
        seed = self.seed * 1000 + self._plugs
        self.specs[p] = [spec, seed]
        self.loads[p] = chargers.make_load(spec, seed)

    def unplug(self, p):
        self.dirty[p] = True
        self.loads[p] = None
        self.specs[p] = None
        self.fault_loads[p] = None

    def fault(self, p, kind):
        self.dirty[p] = True
        if kind in chargers.FAULT_LOADS:
            self.fault_loads[p] = chargers.make_fault(kind, self.watts[p], self.seed + p)
        elif kind == "relay_weld":
            self.welded[p] = True
        elif kind in ("meter_silent", "meter_garbage"):
            self.meter_fault[p] = kind
        elif kind == "clear":
            self.fault_loads[p] = None
            self.welded[p] = False
            self.meter_fault[p] = None
        if self.emus is not None:
            self.emus[p].silent = self.meter_fault[p] == "meter_silent"
            self.emus[p].garbage = self.meter_fault[p] == "meter_garbage"
        if self.ct_chans is not None:  # a CT's broken bias network reads as no reading
            self.ct_chans[p].bias_v = 1.65 if self.meter_fault[p] is None else 0.0

    def set_temp(self, sensor, c, port=None):
        if sensor == "cabinet":
            self.sensors.ntc_model.temp_c = c
        else:
            self.port_c[port] = c

    def set_sensor_fault(self, sensor, fault):
        """The cabinet NTC's lead broken ("open"), shorted ("short") or fixed (None)."""
        if sensor != "cabinet":
            raise ValueError("sensor %r has no fault model" % (sensor,))
        self.sensors.ntc_model.fault = fault

    def set_smoke(self, on):
        machine.Pin.drive(SMOKE_PIN, 0 if on else 1)  # the detector's contact pulls low

    def set_door(self, is_open):
        machine.Pin.drive(DOOR_PIN, 1 if is_open else 0)  # the pull-up wins when open

    def power_off(self):
        """Mains cut: every relay coil drops; the meters lose their counters."""
        self.relays.all_off()

    def power_on(self):
        """Mains back: the controller's drivers start afresh (RAM was lost)."""
        self.relays = PinRelays([machine.Pin(RELAY_PINS[i]) for i in range(self.n)])
        silent_ms = self.meters.silent_ms
        if self.fidelity == "bytes" and self.meter == "ct":
            from drivers.ct import CTMeters, a_per_count

            adc = machine.ADC(machine.Pin(CT_ADC_PIN), atten=machine.ADC.ATTN_11DB)
            self.meters = CTMeters(adc, [machine.Pin(i) for i in SELECT_PINS], self.n, CLOCK,
                                   a_per_count(1000, 40), nominal_v=CT_NOMINAL_V,
                                   pf_pct=CT_PF_PCT, silent_ms=silent_ms)
        elif self.fidelity == "bytes":
            self.meters = MeterScanner([self.mux.uarts[0]], [machine.Pin(i) for i in SELECT_PINS],
                                       self.n, CLOCK, silent_ms=silent_ms,
                                       chip=self.meters.chip)
        else:
            self.meters = ModelMeters(self, self.n, silent_ms, self.meter)

    def contacts(self, p):
        """Are port p's relay contacts closed (coil delay modelled, or welded)?"""
        return self.contacts_model[p].closed() or self.welded[p]

    def step(self, dt_ms):
        """Advance the clock by dt_ms and the physical world with it.

        Energy over the step flows at the power that held during it; then each port's
        power is brought up to date for the contacts as they are at the end of the step.
        Charger physics runs every PHYSICS_MS (their power changes over minutes), and at
        once for a port whose contacts moved or whose load changed, so a fault or a relay
        closing shows in the very next reading.
        """
        for p in range(self.n):
            self.true_mwh[p] += self.watts[p] * dt_ms / 3600.0
        CLOCK.advance_ms(dt_ms)
        if self._card_until_us and CLOCK.us >= self._card_until_us:
            self._card_until_us = 0
            self.card_chip.present([])  # the card is taken away
        for p in range(self.n):
            powered = self.contacts(p)
            acc = self.acc_ms[p] + dt_ms
            if acc >= PHYSICS_MS or powered != self.powered[p] or self.dirty[p]:
                self.powered[p] = powered
                self.dirty[p] = False
                self.acc_ms[p] = 0
                load = self.fault_loads[p] or self.loads[p]
                if load is None:
                    self.watts[p], self.pfs[p] = 0.0, 1.0
                else:
                    load.advance(acc, powered)
                    self.watts[p] = load.watts() if powered else 0.0
                    self.pfs[p] = load.pf()
                if self.emus is not None:
                    w = self.watts[p]
                    pf = self.pfs[p] or 1.0
                    self.emus[p].set_load(volts=VOLTS, amps=w / (VOLTS * pf), watts=w, pf=pf)
                if self.ct_chans is not None:
                    w = self.watts[p]
                    pf = self.pfs[p] or 1.0
                    # a charger's power factor is mostly its crest factor (FIELD_FACTS 3)
                    self.ct_chans[p].set_current(w / (VOLTS * pf), 1.41 / pf)
            else:
                self.acc_ms[p] = acc
