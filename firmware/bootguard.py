# Boot-loop guard: several boots that never ran stably put the cabinet in safe mode.
#
# main.py notes every boot before it builds anything; once the main loop has run for
# STABLE_MS it marks the boot stable, which resets the count. A crash or watchdog reset
# before that counts. LIMIT unstable boots in a row (within minutes on a crash loop)
# or the service button held at power-on: safe mode (relays off, an alarm queued, the
# main loop not started, so the REPL stays reachable for mpremote).

from firmware import store

STABLE_MS = 300000
LIMIT = 3
_NAME = "bootguard"


def note_boot(d):
    """Count this boot as unstable until proven otherwise. Returns the count."""
    rec, _ = store.read(d, _NAME)
    n = rec.get("unstable", 0) if isinstance(rec, dict) else 0
    n = n + 1 if isinstance(n, int) else 1
    store.write(d, _NAME, {"unstable": n})
    return n


def mark_stable(d):
    store.write(d, _NAME, {"unstable": 0})


def safe_mode(unstable_boots, service_held):
    """None, or why the cabinet must start in safe mode."""
    if service_held:
        return "service button held at power-on"
    if unstable_boots > LIMIT:
        return "%d boots in a row crashed before running stably" % (unstable_boots - 1)
    return None
