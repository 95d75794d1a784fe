# The project's verbs. Each sets up what it needs on first use (and again when setup.cfg changes):
# `make run` a .venv with what the example app needs, `make test` a venv of the test toolchain for
# each Python the package claims.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
# The demo's bearer token; the example app makes a random one when this is empty.
DEMO_BEARER_TOKEN ?= demo-admin-token
# What an OCC client signs in with at /ccadmin(ui)/v1/login; the example app makes a random one
# when this is empty.
DEMO_APPLICATION_KEY ?= demo-application-key
# Who runs the demo's imports: thread (in the web process), celery or rq (a worker beside it).
EXECUTOR ?= thread
# How many chunks each demo import is split into, each run by a worker of its own: threads, a
# Celery worker with that many processes, or that many RQ workers.
PARALLELISM ?= 1
# WEBHOOKS=1 turns the demo's OCC Import Complete webhook on, to a receiver of its own.
WEBHOOKS ?= 0

# The oldest and the newest Python the package claims (setup.cfg's classifiers): make test runs
# the whole suite on each, lint and the package build on the newest. They are looked up in
# pyenv's versions, then on PATH.
TEST_PYTHONS ?= 3.10 3.13
NEWEST := $(lastword $(TEST_PYTHONS))
PYENV_ROOT ?= $(HOME)/.pyenv
python_for = $(or $(firstword $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1))),$(shell command -v python$(1)),$(error no Python $(1): install it with pyenv, or set TEST_PYTHONS))
test_venv = .venv-test-$(1)
TEST_READY := $(foreach version,$(TEST_PYTHONS),$(call test_venv,$(version))/.ready)
TOOLS := $(call test_venv,$(NEWEST))/bin

# Debian's packages: the browser the dashboard's test drives (Playwright never downloads one),
# and the benchmarks' load generator and instruction counter.
CHROMIUM := /usr/bin/chromium
# Debian's libfaketime: a worker whose clock really is shifted, for the clock-skew tests.
FAKETIME := /usr/bin/faketime
# Node.js from Debian, and the OpenAPI linters the tests run, from npm, at the versions locked.
NPM := /usr/bin/npm
OPENAPI_TOOLS := tools/openapi/node_modules/.ready
# A real OpenID provider (npm's oidc-provider) for the tests of the identity provider's authorizer.
OIDC_PROVIDER := tools/oidc/node_modules/.ready
WRK := /usr/bin/wrk
VALGRIND := /usr/bin/valgrind
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test package bench lint format translations clean docs screenshot stateful

$(VENV)/.ready: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[sql,celery,rq,metrics,jwt,webhooks]' gunicorn flower
	touch $@

.venv-test-%/.ready: setup.cfg pyproject.toml
	$(call python_for,$*) -m venv $(call test_venv,$*)
	$(call test_venv,$*)/bin/python -m pip install --quiet --upgrade pip
	$(call test_venv,$*)/bin/python -m pip install --quiet -e '.[dev,sql,celery,rq,metrics,jwt,webhooks]'
	touch $@

# The services each executor needs: RQ needs Redis alone; Celery its broker and result backend.
SERVICES_thread :=
SERVICES_rq := redis
SERVICES_celery := rabbitmq redis

run: $(VENV)/.ready
	$(if $(SERVICES_$(EXECUTOR)),bash .ci/services $(SERVICES_$(EXECUTOR)))
	DEMO_BEARER_TOKEN=$(DEMO_BEARER_TOKEN) FLASK_DEMO_APPLICATION_KEY=$(DEMO_APPLICATION_KEY) \
	    FLASK_DEMO_EXECUTOR=$(EXECUTOR) FLASK_DEMO_PARALLELISM=$(PARALLELISM) \
	    FLASK_DEMO_WEBHOOK_RECEIVER=$(if $(filter 1 true yes,$(WEBHOOKS)),true,false) \
	    $(VENV)/bin/python -m example_app --host $(HOST) --port $(PORT)

# The lowest versions setup.cfg allows (uv's lowest-direct resolution), on the oldest Python: what
# a user who pins low gets. make test runs the suite on them too.
OLDEST := $(firstword $(TEST_PYTHONS))
LOWEST := .venv-lowest-$(OLDEST)

$(LOWEST)/.ready: setup.cfg pyproject.toml $(call test_venv,$(NEWEST))/.ready
	rm -rf $(LOWEST)
	$(TOOLS)/python -m pip install --quiet uv
	$(TOOLS)/uv venv --quiet --python $(call python_for,$(OLDEST)) $(LOWEST)
	$(TOOLS)/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct \
	    -e '.[dev,sql,celery,rq,metrics,jwt,webhooks]'
	touch $@

# The whole suite on the newest Python; on the others, and on the lowest versions allowed, all
# but the system tests marked slow (real servers, workers, browsers, tools), which run once.
test: lint docs package $(CHROMIUM) $(FAKETIME) $(OPENAPI_TOOLS) $(OIDC_PROVIDER) $(TEST_READY) $(LOWEST)/.ready
	@for version in $(TEST_PYTHONS); do \
	    if [ "$$version" = "$(NEWEST)" ]; then \
	        echo "== the test suite on Python $$version"; \
	        $(call test_venv,$$version)/bin/python -m pytest || exit 1; \
	    else \
	        echo "== the test suite but its slow system tests, on Python $$version"; \
	        $(call test_venv,$$version)/bin/python -m pytest -m "not slow" || exit 1; \
	    fi; \
	done
	@echo "== the test suite but its slow system tests, on the lowest versions setup.cfg allows (Python $(OLDEST))"
	$(LOWEST)/bin/python -m pytest -m "not slow"

# The documentation site in docs/_build/html, with warnings as errors (-W) and every reference
# checked (-n). Intersphinx is off here (IMPORT_ABORT_DOCS_INTERSPHINX=0): these machines reach
# no documentation site; Read the Docs builds with it on (.readthedocs.yaml).
DOCS_READY := $(call test_venv,$(NEWEST))/.docs-ready
$(DOCS_READY): setup.cfg $(call test_venv,$(NEWEST))/.ready
	$(TOOLS)/python -m pip install --quiet -e '.[docs]'
	touch $@

# The registries' stateful test at length: STATEFUL_EXAMPLES random sequences (make test runs 30).
STATEFUL_EXAMPLES ?= 1000
stateful: $(call test_venv,$(NEWEST))/.ready
	bash .ci/postgres
	IMPORT_ABORT_STATEFUL_EXAMPLES=$(STATEFUL_EXAMPLES) $(TOOLS)/python -m pytest tests/processes/test_registries_agree.py

docs: $(DOCS_READY)
	IMPORT_ABORT_DOCS_INTERSPHINX=0 $(TOOLS)/sphinx-build -E -W -n --keep-going -q -b html docs docs/_build/html
	@echo "the documentation is in docs/_build/html/index.html"

# The dashboard's screenshot in docs/dashboard.png (the README and the docs show it), taken afresh
# by the browser test at the step it shows.
screenshot: $(TEST_READY) $(CHROMIUM)
	IMPORT_ABORT_SCREENSHOT=docs/dashboard.png $(TOOLS)/python -m pytest -q tests/system/test_dashboard.py -k starts_an_import

# The sdist and the wheel in dist/, checked as a package index reads them.
package: $(TEST_READY)
	rm -rf dist
	$(TOOLS)/python -m build --no-isolation --outdir dist . > /dev/null
	$(TOOLS)/twine check --strict dist/*

# Figures, not tests: prints a table and keeps it as JSON in bench/results/. BENCH_ARGS=--quick
# for a short smoke run, "--only versions --against REF" for this checkout beside another;
# BENCH_PYTHON=3.10 on another of the Pythons make test uses.
BENCH_PYTHON ?= $(NEWEST)
bench: $(TEST_READY) $(call test_venv,$(BENCH_PYTHON))/.ready $(WRK) $(VALGRIND) $(OIDC_PROVIDER)
	bash .ci/postgres
	$(call test_venv,$(BENCH_PYTHON))/bin/python -m bench $(BENCH_ARGS)

$(CHROMIUM) $(FAKETIME) $(WRK) $(VALGRIND) $(NPM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(notdir $@) \
	|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y $(notdir $@))

$(OPENAPI_TOOLS): tools/openapi/package.json tools/openapi/package-lock.json | $(NPM)
	cd tools/openapi && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(OIDC_PROVIDER): tools/oidc/package.json tools/oidc/package-lock.json | $(NPM)
	cd tools/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The message catalogs of the package (domain flask_import_abort) and of the demo (messages):
# each template extracted from the code, each language's .po brought up to date with it (a new
# message is added untranslated, and make test says so), each compiled to the .mo that ships.
define update_catalog
	$(TOOLS)/pybabel extract --omit-header --no-location --sort-output --project=flask-import-abort \
	    -o $(1)/$(2).pot $(3)
	$(TOOLS)/pybabel update --no-fuzzy-matching --ignore-obsolete \
	    -i $(1)/$(2).pot -d $(1) -D $(2)
	$(TOOLS)/pybabel compile -d $(1) -D $(2)
endef
translations: $(TEST_READY)
	$(call update_catalog,flask_import_abort/languages/translations,flask_import_abort,flask_import_abort)
	$(call update_catalog,example_app/translations,messages,example_app)

lint: $(TEST_READY)
	$(TOOLS)/ruff check .
	$(TOOLS)/ruff format --check .
	$(TOOLS)/mypy --strict flask_import_abort
	$(TOOLS)/lint-imports

format: $(TEST_READY)
	$(TOOLS)/ruff check --fix .
	$(TOOLS)/ruff format .

clean:
	rm -rf $(VENV) .venv-test-* .venv-lowest-* docs/_build build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
