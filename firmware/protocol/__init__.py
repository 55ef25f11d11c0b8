# The MQTT contract (PROTOCOL.md): the signed command gate, the command table, card
# authorisation, status and telemetry. Speaks to the core through its verbs.
