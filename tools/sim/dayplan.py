# A busy day for a 10-port cabinet (~30 sessions), built deterministically from a seed.
# Used by the benchmarks and the demo; MicroPython-compatible.
import chargers

_MODELS = ("lead_acid_48v_20ah", "lithium_48v_4a", "lithium_handshake", "clocking_lithium")


def busy_day(ports=10, sessions=30, seed=7, duration_s=86400):
    r = chargers.Rng(seed)
    events = []
    free_at = [0] * ports
    t = 300
    made = 0
    gap = duration_s // (sessions * 2)
    while made < sessions and t < duration_s - 3600:
        p = r.next() % ports
        for k in range(ports):  # the first free port from a random one
            if free_at[(p + k) % ports] <= t:
                p = (p + k) % ports
                break
        if free_at[p] <= t:
            model = _MODELS[r.next() % len(_MODELS)]
            soc = 0.1 + (r.next() % 70) / 100
            events.append({"t": t, "port": p, "plug": {"model": model, "soc": soc}})
            kind = r.next() % 4
            limit = ({"full": True}, {"minutes": 240}, {"wh": 300}, {"fen": 50})[kind]
            events.append({"t": t + 20, "cmd": {"op": "start", "port": p, "limit": limit}})
            stay = 3600 * (3 + r.next() % 7)
            if t + stay >= duration_s:
                stay = duration_s - t - 60
            events.append({"t": t + stay, "port": p, "unplug": True})
            free_at[p] = t + stay + 60
            made += 1
        t += gap // 2 + r.next() % gap
    events.sort(key=lambda e: e["t"])
    return {"cabinet": {"ports": ports, "meter": "hlw8032"}, "duration_s": duration_s,
            "events": events}
