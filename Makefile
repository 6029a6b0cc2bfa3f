# One task runner for the README, CI and developers. Every recipe installs what it needs first.
PYTHON ?= python3
UV_VERSION ?= 0.13.9
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=
# The whole test run's ceiling: a hang that slips past the per-test timeout (say, in a module's
# teardown) ends the run with pytest's summary (SIGINT) instead of silently eating CI's budget.
# The tier took 38 min on 2026-12-04 (docs/performance.md "The test run's wall time"), so 50.
TEST_TIME_LIMIT ?= 50m
# mypy's incremental cache: .mypy_cache in the checkout by default; CI points it at a directory
# that outlives the clone (.ci/run), as mypy re-checks only what changed since.
MYPY_CACHE_DIR ?= .mypy_cache

.PHONY: help install browser console-screenshots run stop status test test-unit test-integration test-e2e test-faults test-soak lint helm-check fuzz-api contracts bench bench-small bench-server bench-sink

help:
	@echo "make run        install, start the local stack (Kafka, SecantusDB, SMTP sink, Zipkin, Keycloak, six services and the console), load demo data"
	@echo "make stop       stop the local stack"
	@echo "make status     show what runs and how much memory it takes"
	@echo "make test       install and run every test tier (unit, integration, e2e)"
	@echo "make test-faults  kill and restart services, the relay, the broker, the database under load"
	@echo "make test-soak  the soak tier: the trace viewer after the journey and a 10,000-row import"
	@echo "make browser    install Debian's Chromium for the console's browser tests (when missing)"
	@echo "make console-screenshots  the browser tests, saving page screenshots into docs/console/"
	@echo "make lint       ruff, mypy --strict and the import contract (import-linter)"
	@echo "make helm-check helm lint, helm template | kubeconform -strict and the policy check of deploy/helm; promtool on deploy/monitoring"
	@echo "make contracts  regenerate docs/contracts from the event models, docs/permissions.md from the routes"
	@echo "make fuzz-api   Schemathesis over every gateway operation, long (minutes); report in .run/fuzz-api"
	@echo "make bench      the benchmark suite, full size (minutes); make bench-small runs in CI"
	@echo "make bench-server  build the Rust SecantusDB server the full benchmarks prefer"
	@echo "make bench-sink    unpack Postfix's smtp-sink, the SMTP sink benchmark 5 prefers"

# uv is the only tool installed outside the project; it installs Python packages from the lock.
install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen

# Debian's Chromium for the console's browser tests (Playwright drives it; its own browser
# download cannot be reached here). Installed only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) apt-get install -y -q chromium >/dev/null \
		|| ($(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null)

# The console's browser tests, saving each page's screenshot into docs/console/ (docs/console.md).
console-screenshots: install browser
	CONSOLE_SCREENSHOT_DIR=$(CURDIR)/docs/console $(UV) run --frozen pytest tests/e2e/test_console*.py $(PYTEST_ARGS)

run: install
	$(UV) run --frozen crm-stack up
	$(UV) run --frozen crm-stack demo

stop:
	$(UV) run --frozen crm-stack down

status:
	$(UV) run --frozen crm-stack status

# The fault tier (tests/faults, about 11 minutes) is left out of `make test`, CI's budget; one
# fault test, the campaigns process killed mid-broadcast, stays in the integration tier.
test: install browser
	timeout --signal=INT --kill-after=60s $(TEST_TIME_LIMIT) $(UV) run --frozen pytest -m "not faults and not soak" -n 2 --durations=30 $(PYTEST_ARGS)

# Minutes-long runs under realistic volume (the trace viewer after the journey and a 10,000-row import).
test-soak: install
	$(UV) run --frozen pytest -m soak $(PYTEST_ARGS)

test-unit: install
	$(UV) run --frozen pytest -m unit $(PYTEST_ARGS)

test-integration: install
	$(UV) run --frozen pytest -m integration $(PYTEST_ARGS)

test-e2e: install browser
	$(UV) run --frozen pytest -m e2e $(PYTEST_ARGS)

# Each fault in turn against the real broker, database and SMTP sink, with exact counts (see
# docs/reliability.md); the campaigns kill test of the integration tier runs here too.
test-faults: install
	timeout --signal=INT --kill-after=60s $(TEST_TIME_LIMIT) $(UV) run --frozen pytest \
		tests/faults tests/integration/campaigns/test_delivery_faults.py \
		"tests/integration/shared/test_outbox.py::test_a_relay_killed_mid_batch_loses_no_event" \
		$(PYTEST_ARGS)

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy --cache-dir $(MYPY_CACHE_DIR) shared/src services/*/src deploy/local/src deploy/helm/*.py tests bench
	$(UV) run --frozen lint-imports

contracts: install
	$(UV) run --frozen python -m crm_shared.contracts.specification write
	$(UV) run --frozen python -m crm_devstack.permission_matrix write
	$(UV) run --frozen python -m crm_devstack.helm_consumers write

# The Helm chart without a cluster: lint, render each values file into kubeconform -strict
# (Kubernetes and KEDA schemas) and the policy check. helm and kubeconform are built with
# `go install` once into a cache that outlives the clone (HELM_CHECK_CACHE); see deploy/helm/check.
helm-check: install
	UV_RUN="$(UV) run --frozen" bash deploy/helm/check

# Schemathesis over every operation of the gateway, as a recruiter and as an admin, against the
# tests' in-process stack: the CI test (tests/integration/flow/test_api_fuzz.py) made long, with
# every generation phase. Output and JUnit reports per role in .run/fuzz-api; see docs/security.md.
FUZZ_EXAMPLES ?= 20
FUZZ_PHASES ?= examples,coverage,fuzzing
fuzz-api: install
	CRM_FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) CRM_FUZZ_PHASES=$(FUZZ_PHASES) \
		CRM_FUZZ_REPORT_DIR=$(CURDIR)/.run/fuzz-api \
		$(UV) run --frozen pytest tests/integration/flow/test_api_fuzz.py --timeout 7200 $(PYTEST_ARGS)

# The Rust SecantusDB server for the full benchmarks (a long compile: WiredTiger and ~300 crates).
# The crate declares rust-version 1.98; it builds and runs on this machine's 1.95 when told to
# ignore that.
SECANTUS_RS_VERSION ?= 0.5.3-beta.196
bench-server:
	cargo install secantus-mdb --version $(SECANTUS_RS_VERSION) --ignore-rust-version --locked \
		--root $(HOME)/.cache/recruitcrm/secantus-rs

# Postfix's smtp-sink, the C SMTP sink benchmark 5 sends to (Debian's package, unpacked into the
# cache rather than installed, so no mail system is configured).
POSTFIX_CACHE := $(HOME)/.cache/recruitcrm/postfix
bench-sink: $(POSTFIX_CACHE)/usr/sbin/smtp-sink

$(POSTFIX_CACHE)/usr/sbin/smtp-sink:
	mkdir -p $(POSTFIX_CACHE)
	cd $(POSTFIX_CACHE) && apt-get download postfix && dpkg -x postfix_*.deb .

bench: install bench-sink
	$(UV) run --frozen python -m bench --mode full

bench-small: install
	$(UV) run --frozen python -m bench --mode small --server python
