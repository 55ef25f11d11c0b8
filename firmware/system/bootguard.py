# Boot-loop guard: crashes in a row, before the firmware ran stably, mean safe mode.
#
# main.py notes every boot with its reset cause (machine.reset_cause()) before it builds
# anything. Only a crash counts: a watchdog reset, a hard reset (machine.reset() after an
# unhandled exception, a panic) or an unknown cause. A power-on reset (also a brown-out on
# the esp32 port), a deep-sleep wake and a soft reset do not: a grid recloser's burst of
# power-ups is not a crash loop. A reset the firmware asked for (the `reboot` command,
# safe mode leaving) is marked planned first and does not count either. Once the main
# loop has run for STABLE_MS it marks the boot stable, which resets the count.
#
# LIMIT crashes in a row, or the service button held at power-on: safe mode. Safe mode
# keeps every relay off, still brings the network up (when it can) to send its
# `safe_mode` alarm and to take `status`, `unlock` and `reboot` (main.SafeMode), and
# clears itself: after SAFE_CLEAR_MS without a crash, or on a signed `unlock`, the count
# is reset and the next boot runs normally.

from firmware.store import store

STABLE_MS = 300000
SAFE_CLEAR_MS = 1800000  # safe mode that ran this long without a crash reboots normally
LIMIT = 3
_NAME = "bootguard"


def note_boot(d, crashed=True):
    """Count this boot when it follows a crash (not a planned reset). Returns the count
    of crashes in a row."""
    rec, _ = store.read(d, _NAME)
    rec = rec if isinstance(rec, dict) else {}
    n = rec.get("unstable", 0)
    n = n if isinstance(n, int) else 0
    if crashed and not rec.get("planned"):
        n += 1
    if n != rec.get("unstable") or rec.get("planned"):
        store.write(d, _NAME, {"unstable": n})
    return n


def mark_stable(d):
    store.write(d, _NAME, {"unstable": 0})


def mark_planned(d, clear=False):
    """Before a reset the firmware asks for: the next boot does not count it as a crash.
    clear: the count starts again from 0 (safe mode cleared)."""
    rec, _ = store.read(d, _NAME)
    n = 0 if clear or not isinstance(rec, dict) else rec.get("unstable", 0)
    store.write(d, _NAME, {"unstable": n, "planned": True})


def safe_mode(crashes, service_held):
    """None, or why the cabinet must start in safe mode."""
    if service_held:
        return "service button held at power-on"
    if crashes >= LIMIT:
        return "%d boots in a row crashed before running stably" % crashes
    return None
