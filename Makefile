# Two commands on a fresh machine: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test test-fast browser bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Trains the `sample` preset (128x128) on the bundled facades sample (a few minutes on 2 CPU cores), then tests it.
demo: venv
	$(BIN)/tfpix2pix train --dataset facades-sample --workdir runs/demo
	$(BIN)/tfpix2pix test --workdir runs/demo

# Headless Chromium for the results-page test (Debian packages, installed when missing and possible).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium/chromedriver missing and not root; the browser test will be skipped"; fi; \
	fi

# pytest exits 5 when it collects no tests: reported, not a failure. Two pytest-xdist workers, a
# test file each at a time (module fixtures train once per file): about 9 minutes on 2 cores.
TEST_WORKERS ?= 2
test: venv browser
	@$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

test-fast: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" tests

bench: venv
	$(BIN)/tfpix2pix bench

clean:
	rm -rf $(VENV) runs test-artifacts .pytest_cache
