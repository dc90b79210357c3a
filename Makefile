# inference-controller — every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_DEPS := node_modules/.package-lock.json

.PHONY: help deps tools lint typecheck crds dashboards test test-unit test-integration demo dev-up dev-down clean

.PHONY: build image

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_DEPS)

deps: $(NODE_DEPS) ## Install the pinned npm dependencies.

tools: deps ## Build or find the real components (cached outside the checkout).
	./bin/infctl dev tools

lint: deps ## ESLint, Prettier and unused exports (knip.jsonc).
	npx eslint .
	npx prettier --check .
	npx knip

typecheck: deps ## TypeScript strict type check.
	npx tsc --noEmit -p tsconfig.json

crds: deps ## Regenerate crds/ from src/api.
	./bin/infctl crds generate

dashboards: deps ## Regenerate the chart's Grafana dashboards from src/dashboards.
	./bin/infctl dashboards generate

build: deps ## Compile to plain JavaScript in dist/ with the prebuilt workflow bundle (npm run build).
	npm run build

image: deps ## Build the OCI image here, no registry needed (mmdebstrap + buildah); prints its name.
	./scripts/build-image.sh

test-unit: deps ## Unit tests (pure logic, no servers).
	node --import tsx --test --test-reporter=spec test/unit/*.test.ts

test-integration: tools ## Integration and end-to-end tests against the real components.
	./scripts/test-integration.sh

test: tools lint typecheck test-unit test-integration ## The whole suite: components, lint, type check, every test.

demo: tools ## Start the local environment and apply the examples (Ctrl-C stops it).
	./scripts/demo.sh

dev-up: tools ## Start the local environment and leave it running.
	./bin/infctl dev up

dev-down: ## Stop the local environment.
	./bin/infctl dev down

clean: ## Remove installed dependencies and local state.
	rm -rf node_modules .state
