# Config overrides: the `config` command and the boot that follows it.
#
# A `config` command is validated as a whole against the running config (any problem:
# bad_args, nothing changes), merged into the overrides file (state_dir/config.json) and
# applied: keys marked LIVE in firmware/system/config.py SCHEMA go into the running config
# and App.configure(cfg, keys) hands them to the parts that use them (protection, feeder,
# judges, the tariff); every other key takes effect at the next boot, where
# load_overrides() lays the file over config.json (the reply lists them under "restart").

import json

from firmware.core import codes
from firmware.system import config as config_mod

OVERRIDES = "config.json"  # in the state directory


def read_json(path):
    """The JSON in path, or None when it is missing or not JSON."""
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def load_overrides(state_dir, cfg):
    """cfg with the config commands' overrides applied over it: (config, problems). Call
    at boot, before the app is built."""
    raw = read_json(state_dir + "/" + OVERRIDES)
    if raw is None:
        return cfg, []
    return config_mod.validate(raw, cfg)


def apply(app, state_dir, save, partial):
    """One `config` command: None, {"restart": [keys]}, or bad_args (nothing changed).
    save(name, obj): atomic write in the state dir, an alarm on failure. A function, not
    an object: nothing to keep between commands (RAM on the ESP32)."""
    cfg = app.cfg
    new, problems = config_mod.validate(partial, cfg)
    if problems:
        return codes.E_BAD_ARGS
    over = read_json(state_dir + "/" + OVERRIDES)
    over = over if isinstance(over, dict) else {}
    for k in partial:
        over[k] = new[k]  # pins: the merged map
    save(OVERRIDES, over)
    restart = []
    for k in partial:
        if config_mod.live(k):
            cfg[k] = new[k]
        elif new[k] != cfg[k]:
            restart.append(k)
    app.configure(cfg, partial)
    return {"restart": restart} if restart else None
