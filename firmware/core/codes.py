# Stable string codes for port states, session end reasons and alarms (PROTOCOL.md).
# Defined once; firmware, docs and tests use these names.

# Port states
IDLE = "idle"
OPEN = "open"  # relay closed, waiting for a charger to draw
CHARGING = "charging"
FLOAT = "float"  # judged full, charging on for float_s
DEFERRED = "deferred"  # waiting for feeder room or the off-peak hour; relay off, not timed
ENDED = "ended"  # a session just ended (display hold), a new one may start
FAULT = "fault"  # meter or sensor fault, port unusable until it clears
LOCKED = "locked"  # after a safety stop, until `unlock`

# Session end reasons (contract)
FULL = "full"
TIME_LIMIT = "time_limit"
ENERGY_LIMIT = "energy_limit"
MONEY_LIMIT = "money_limit"
USER_STOP = "user_stop"
REMOTE_STOP = "remote_stop"
UNPLUGGED = "unplugged"
NO_LOAD = "no_load"
OVERPOWER = "overpower"
OVERCURRENT = "overcurrent"
OVERTEMP = "overtemp"
SMOKE = "smoke"
METER_FAULT = "meter_fault"
RELAY_FAULT = "relay_fault"
ESTOP = "estop"
MAX_DURATION = "max_duration"
POWER_LOSS = "power_loss"

REASONS = (FULL, TIME_LIMIT, ENERGY_LIMIT, MONEY_LIMIT, USER_STOP, REMOTE_STOP, UNPLUGGED,
           NO_LOAD, OVERPOWER, OVERCURRENT, OVERTEMP, SMOKE, METER_FAULT, RELAY_FAULT, ESTOP,
           MAX_DURATION, POWER_LOSS)
# A safety stop locks the port until staff send `unlock` (a tripped port must not be
# restartable by a resident: the Hubei incident in FIELD_FACTS.md section 2).
SAFETY_STOPS = (OVERPOWER, OVERCURRENT, OVERTEMP, SMOKE, RELAY_FAULT)

# Alarm codes (contract)
A_OVERCURRENT = "overcurrent"
A_OVERPOWER = "overpower"
A_PORT_OVERTEMP = "port_overtemp"
A_CABINET_OVERTEMP = "cabinet_overtemp"
A_SMOKE = "smoke"
A_RELAY_WELDED = "relay_welded"
A_METER_SILENT = "meter_silent"
A_METER_GARBAGE = "meter_garbage"
A_FEEDER_OVERLOAD = "feeder_overload"
A_PORT_LOCKED = "port_locked"
A_SENSOR_FAULT = "sensor_fault"
A_CONFIG = "config_invalid"
A_STORAGE = "storage_fault"  # a journal or outbox file was torn or corrupt
A_OUTBOX_FULL = "outbox_full"  # undelivered records fill the outbox: new sessions refused

WARNING = "warning"
CRITICAL = "critical"
RAISED = "raised"
CLEARED = "cleared"

# Command reply error codes (contract)
E_BAD_TOKEN = "bad_token"  # not a JWS compact HS256 token (or unparseable)
E_BAD_SIGNATURE = "bad_signature"
E_EXPIRED = "expired"
E_REPLAYED = "replayed"
E_UNKNOWN_OP = "unknown_op"
E_TOO_LARGE = "too_large"  # larger than max_msg_bytes: skipped unread
E_PORT_BUSY = "port_busy"
E_PORT_LOCKED = "port_locked"
E_PORT_FAULT = "port_fault"
E_FEEDER_FULL = "feeder_full"
E_BAD_ARGS = "bad_args"
ERRORS = (E_BAD_TOKEN, E_BAD_SIGNATURE, E_EXPIRED, E_REPLAYED, E_UNKNOWN_OP, E_BAD_ARGS,
          E_PORT_BUSY, E_PORT_LOCKED, E_PORT_FAULT, E_FEEDER_FULL, E_TOO_LARGE)
