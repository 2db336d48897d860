# The two commands: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
# The app's links (PUBLIC_URL, unless set) follow the address it is served on, also when given as
# `make run PORT=8000`.
export HOST PORT
# Python's own default: compiled modules kept in __pycache__ (git ignores them). Some machines set
# PYTHONDONTWRITEBYTECODE, and then every test worker, gunicorn worker and command compiled the
# app's and the tests' sources anew, and pytest rewrote every test module's asserts again: half
# of each worker's collection time.
export PYTHONDONTWRITEBYTECODE :=
# Three pytest workers (pytest-xdist), a test file each at a time, on two cores: much of the suite
# waits on databases, subprocesses and browsers. On this session's machine (2 cores) the suite took
# 9.1 min with two workers and 6.6 min with three (4: 9.6 min, before the cheaper test hashing).
# --no-loadscope-reorder: the files in the order tests/conftest.py gives them, the longest first
# (xdist's own order, most tests first, left the two-host and Lighthouse runs for the end).
PYTEST_ARGS ?= -n 3 --dist loadfile --no-loadscope-reorder

.PHONY: run test lint browser-deps system-deps test-system-deps bench bench-quiz bench-pages bench-mail bench-outage bench-coach bench-report bench-backup bench-phone bench-cta bench-lighthouse bench-two-hosts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the dependencies change; the stamp files record the last install.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml package.json | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	npm ci --silent --no-audit --no-fund
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run system-deps
	$(BIN)/flask --app quiz db upgrade
	@# The mail and webhook senders and the PDF renderer run beside the server (the same
	@# `send-mail --watch`, `send-webhooks --watch` and `render-pdfs --watch` as in production)
	@# and are stopped with it: on Ctrl+C, on an error, whenever this recipe ends.
	$(BIN)/flask --app quiz send-mail --watch --interval 2 & sender=$$!; \
	$(BIN)/flask --app quiz send-webhooks --watch --interval 2 & hooks=$$!; \
	$(BIN)/flask --app quiz render-pdfs --watch --interval 2 & pdfs=$$!; \
	trap 'kill $$sender $$hooks $$pdfs 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask --app quiz run --host $(HOST) --port $(PORT)

browser-deps:
	@bash scripts/install-browser.sh

# Pango, HarfBuzz and fonts for the PDF report (WeasyPrint), when missing and root.
system-deps:
	@bash scripts/install-system-deps.sh

# The same, and Caddy and systemd-analyze for the tests of deploy/ (tests/test_deploy_files.py).
test-system-deps:
	@bash scripts/install-system-deps.sh --test

# stubtest compares the hand-written stubs in stubs/ with the installed libraries.
STUBTEST := $(BIN)/stubtest flask_login flask_wtf weasyprint --ignore-missing-stub

# mypy and stubtest (about 13 s of one core from cold) check while the tests run, whose workers
# often wait on browsers, databases and subprocesses; their report follows the tests' and either
# failing fails `make test`.
STATIC_LOG := $(VENV)/static-checks.log

test: $(VENV)/.installed-test browser-deps test-system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	@echo "mypy and stubtest run beside the tests; their report follows the tests'"
	@{ $(BIN)/mypy && $(STUBTEST); } > $(STATIC_LOG) 2>&1 & static=$$!; \
	$(BIN)/pytest $(PYTEST_ARGS); tests=$$?; \
	wait $$static; checks=$$?; \
	echo "--- mypy and stubtest ---"; cat $(STATIC_LOG); \
	[ $$checks -eq 0 ] || echo "mypy or stubtest failed (above)"; \
	[ $$tests -eq 0 ] && [ $$checks -eq 0 ]

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(STUBTEST)

# Each benchmark is one command that prints its figures; `make bench` runs them all.
bench: bench-quiz bench-pages bench-mail bench-outage bench-coach bench-report bench-backup bench-phone bench-cta bench-lighthouse

bench-quiz: $(VENV)/.installed-test
	$(BIN)/python bench/quiz_load.py

bench-pages: $(VENV)/.installed-test
	$(BIN)/python bench/page_cpu.py --gunicorn 3

bench-mail: $(VENV)/.installed-test
	$(BIN)/python bench/mail_throughput.py

bench-outage: $(VENV)/.installed-test
	$(BIN)/python bench/outage.py

bench-coach: $(VENV)/.installed-test
	$(BIN)/python bench/coach_dashboard.py

bench-report: $(VENV)/.installed-test
	$(BIN)/python bench/report_pdf.py

bench-backup: $(VENV)/.installed-test
	$(BIN)/python bench/backup.py

bench-phone: $(VENV)/.installed-test browser-deps
	$(BIN)/python bench/phone_taps.py

bench-cta: $(VENV)/.installed-test browser-deps
	$(BIN)/python bench/cta_position.py

bench-lighthouse: $(VENV)/.installed-test browser-deps
	$(BIN)/python bench/lighthouse_scores.py

# Root only (network namespaces): two app hosts, one PostgreSQL and one Redis, Caddy in front.
bench-two-hosts: $(VENV)/.installed-test
	$(BIN)/python bench/two_hosts.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache tests/e2e/screenshots
