# CiSP Fusion — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export CISP_ROOT := $(CURDIR)

.PHONY: kcat broker-acls intake-gateway report monitoring-env quality bench-e2e build-deps fuzz help run test build stack-up stack-down clean-stack stop status unit-test lint python-env

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: build stack-up ## Build, start the local stack and the fusion service, publish the demo scenario, show what each member received
	@bash scripts/run-demo.sh

test: build stack-up python-env monitoring-env kcat ## Run every test: unit, property, integration and end-to-end against the real broker (Apache Kafka, ACLs), ClickHouse and Prometheus
	CISP_PYTHON="$$(bash scripts/python-env.sh)" CISP_GRAFANA_SCHEMA="$$(bash scripts/monitoring-env.sh)" $(CARGO) test --no-fail-fast --workspace --lib --bins --tests -- --test-threads=2

unit-test: build-deps ## Only the tests that need no running stack: unit tests, the engine's property and clustering tests, the quality bar, bounded fuzzing
	$(CARGO) test --workspace --lib
	$(CARGO) test -p cisp-engine --tests
	$(CARGO) test -p cisp-load --test quality
	$(CARGO) test -p cisp-fuzz --test bounded

build: build-deps ## Build the service and the tools (debug profile, optimised dependencies)
	$(CARGO) build --workspace --bins

build-deps: ## Install (once) the C libraries the build links (OpenSSL headers, via apt)
	@bash scripts/build-deps.sh

stack-up: ## Install (once) and start Apache Kafka (SCRAM users, topics, ACLs) and ClickHouse on 127.0.0.1
	@bash scripts/stack/up.sh

stack-down: ## Stop the fusion service, the broker and ClickHouse (data is kept)
	@bash scripts/stack/down.sh

clean-stack: stack-down ## Stop everything and delete all local stack data (.stack/, or CISP_STACK_DIR)
	rm -rf "$${CISP_STACK_DIR:-$(CURDIR)/.stack}"

stop: ## Stop the fusion service started by make run
	@bash scripts/fusion.sh stop

status: ## Show what is running
	@bash scripts/stack/broker.sh status || true
	@bash scripts/stack/clickhouse.sh status || true
	@bash scripts/fusion.sh status || true

python-env: ## Create (once) the Python environment of the interop test
	@bash scripts/python-env.sh >/dev/null

kcat: python-env ## Install (once) Debian's kcat for members' use: scripts/kcat.sh MEMBER [kcat args]
	@bash scripts/kcat.sh --install

broker-acls: ## List the ACLs the local broker enforces: make broker-acls [PRINCIPAL=northbank]
	@bash scripts/stack/kafka-admin.sh list-acls $${PRINCIPAL:-}

monitoring-env: ## Install (once) Prometheus/promtool and Grafana's dashboard schema for the monitoring tests
	@bash scripts/monitoring-env.sh >/dev/null

report: build stack-up ## Quarterly threat-trend report from ClickHouse: make report QUARTER=2026Q3 [AUDIENCE=fusion-cell] (default: latest quarter, community)
	@bash scripts/report.sh "$${QUARTER:-latest}" "$${AUDIENCE:-community}"

intake-gateway: build stack-up ## Run the intake gateway (HTTP uploads, TAXII 2.1) on 127.0.0.1:8088; keys: target/debug/cisp-intake keys add --member ID
	CISP_CONFIG=config/fusion.toml target/debug/cisp-intake gateway

lint: build-deps ## Clippy with warnings as errors, and a format check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fuzz: build-deps ## Fuzz every hostile-input path for FUZZ_SECONDS per target (default 60; optimised build)
	$(CARGO) run --release -p cisp-fuzz -- --seconds $${FUZZ_SECONDS:-60} $${FUZZ_SEED:+--seed $$FUZZ_SEED}

bench-e2e: build-deps stack-up ## End-to-end benchmark on the real stack (release build): SCENARIO=default|large-reports|many-members|latency-short-batches (load-tests/scenarios/); SOAK=1 adds 30 minutes at SOAK_PERCENT (50) % with a chart in docs/bench/
	$(CARGO) run --release -p cisp-load --bin cisp-load -- --scenario load-tests/scenarios/$${SCENARIO:-default} $${RECORDS:+--records $$RECORDS} $${MEMBERS:+--members $$MEMBERS} $${SOAK:+--soak-minutes $${SOAK_MINUTES:-30} --soak-percent $${SOAK_PERCENT:-50}}

quality: build-deps stack-up ## Clustering quality on a planted scenario: pairwise precision/recall from the engine and from ClickHouse (through the broker and the service), actor top-1, engine throughput; then attribution calibration on several seeds (top-1, false attributions, wrong claims, the curve as an SVG)
	$(CARGO) run --release -p cisp-load --bin cisp-quality -- --seed $${SEED:-7} $${CAMPAIGNS:+--campaigns $$CAMPAIGNS} $${BACKGROUND:+--background $$BACKGROUND} --through-stack config/fusion.toml
	$(CARGO) run --release -p cisp-load --bin cisp-quality -- --attribution $${SEEDS:-1,2,3,7} --svg docs/bench/attribution-calibration.svg
