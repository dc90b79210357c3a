# inference-controller — every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_DEPS := node_modules/.package-lock.json

.PHONY: help deps lint typecheck crds test test-unit demo clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_DEPS)

deps: $(NODE_DEPS) ## Install the pinned npm dependencies.

lint: deps ## ESLint and Prettier.
	npx eslint .
	npx prettier --check .

typecheck: deps ## TypeScript strict type check.
	npx tsc --noEmit -p tsconfig.json

crds: deps ## Regenerate crds/ from src/api.
	./bin/infctl crds generate

test-unit: deps ## Unit tests (pure logic, no servers).
	node --import tsx --test --test-reporter=spec test/unit/*.test.ts

test: lint typecheck test-unit ## The whole suite: lint, type check, every test.

demo: deps ## Validate the examples and show what the controller will run.
	./bin/infctl validate examples/
	@echo
	@echo "Next: the controller turns each resource above into a Temporal workflow (see README, 'Status')."

clean: ## Remove installed dependencies and local state.
	rm -rf node_modules .state
