"""The hub's load test (tools/hub/loadtest.py) at a smaller count: light cabinets through
mosquitto into two hub processes on PostgreSQL, one killed mid-run. FULL=1: 1 000
cabinets. Nothing lost, nothing stored twice, every order started."""

import json
import os
import subprocess
import sys

from mpy import ROOT

FULL = os.environ.get("FULL") == "1"


def test_two_hubs_one_killed_lose_nothing_and_store_nothing_twice(tmp_path):
    out = tmp_path / "figures.json"
    n = "1000" if FULL else "200"
    r = subprocess.run([sys.executable, "-m", "tools.hub.loadtest", "--cabinets", n,
                        "--orders", "40" if not FULL else "200", "--seconds",
                        "12" if not FULL else "30", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(r.stdout[-3000:])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    fig = json.loads(out.read_text())
    assert fig["lost"] == 0 and fig["stored_twice"] == 0 and fig["unexpected"] == 0
    assert fig["records_stored"] == fig["records_expected"] > int(n) * 16
    assert fig["order_errors"] == 0 and fig["orders"] > 0
    assert fig["hub_killed"] and len(fig["stored_by_hub"]) == 2
    assert fig["cabinets_live_per_hub"] == [int(n), int(n)]  # live views in both
