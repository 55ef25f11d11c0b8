# The cabinet firmware, one package per layer (docs/architecture.md has the picture):
#   core/      ports, sessions, the end-of-charge judgement, protection, the feeder, codes
#   store/     flash: atomic files, the session journal, the outbox, power-loss glue
#   protocol/  the MQTT contract: signed commands, their table, status and telemetry
#   link/      the network: Wi-Fi/PPP, DNS, sliced sockets, the MQTT client and uplink
#   panel/     the residents' side: card reader and keypad flow, OLED screens, beeper
#   system/    boot and configuration: the config schema, boot guard, safe mode, wall clock
# The core imports no other layer, and no layer imports `machine` (host_tests check both).
