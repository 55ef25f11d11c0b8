"""The cabinet table: id, topic prefix, command key (never sent out), ports and tariff."""

import time

DEFAULT_TARIFF = (52, 80)  # firmware/system/config.py energy_fen_per_kwh, service_fen_per_kwh
DEFAULT_PORT_LIMIT_W = 1000  # firmware/system/config.py port_limit_w


def register(cur, cabinet, key_hex, prefix="ebike", ports=10, energy_fen=DEFAULT_TARIFF[0],
             service_fen=DEFAULT_TARIFF[1], port_limit_w=DEFAULT_PORT_LIMIT_W):
    """Add or update one cabinet. Returns True when it was new."""
    args = (prefix, key_hex.lower(), ports, energy_fen, service_fen, port_limit_w)
    n = cur.run("UPDATE cabinets SET prefix = ?, key_hex = ?, ports = ?, energy_fen_per_kwh = ?, "
                "service_fen_per_kwh = ?, port_limit_w = ? WHERE id = ?", args + (cabinet,))
    if n:
        return False
    cur.run("INSERT INTO cabinets (prefix, key_hex, ports, energy_fen_per_kwh, "
            "service_fen_per_kwh, port_limit_w, id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            args + (cabinet, int(time.time())))
    return True
