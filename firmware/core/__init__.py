# Ports, sessions, the end-of-charge judgement, protection and orderly charging: the
# cabinet's behaviour on integers, with no network, flash or hardware import.
