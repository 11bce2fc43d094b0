# The two set-up commands of the README are `make drill` and `make test`; every other
# target is a building block of those two.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LABCTL := $(BIN)/python lab/labctl
SANITY_DIR := .build/sanity/ansible_collections/genesys_dr/framework

.PHONY: deps test drill bench sanity units lab-tests campaign lab-up lab-down build ee lint changelog-lint

deps:
	@./tools/install-deps

test: deps
	@./tools/run-tests

# DRILL_ARGS: --mode disaster|planned|partition --sites N --max-rto S --max-limited S
drill: deps
	@./tools/run-drill --keep-lab $(DRILL_ARGS)

# The failover benchmark: the playbooks against a bare runbook of the same steps, interleaved
# cycles on fresh labs; prints medians and ratios. By default every scenario of the goals
# (disaster, planned, failback, partition at 2 sites, disaster at 8; over an hour); pick with
# BENCH_ARGS="--cycles 3 --scenario planned disaster:8".
# It builds and removes labs: nothing else may use one meanwhile.
bench: deps
	cd lab && $(CURDIR)/$(BIN)/python -m genesys_lab.bench $(BENCH_ARGS)

units: deps
	$(BIN)/python -m pytest tests/unit -q

lab-tests: deps
	$(BIN)/python -m pytest tests/integration -q

# The long fault campaign: every case, every kill point at least three times (hours; the
# short form is part of `make test`). It builds and removes labs: nothing else may use one.
campaign: deps
	GENESYS_CAMPAIGN=long $(BIN)/python -m pytest tests/campaign -q -p no:cacheprovider $(CAMPAIGN_ARGS); \
	  rc=$$?; $(LABCTL) down >/dev/null 2>&1; exit $$rc

sanity: deps
	@rm -rf .build/sanity && mkdir -p $(SANITY_DIR)
	@git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_DIR)/
	@cd $(SANITY_DIR) && git init -q && git add -A && \
	  $(CURDIR)/$(BIN)/ansible-test sanity --local --python 3.11 --color no $(SANITY_ARGS)

build: deps
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

# The execution environment's build context (.build/ee/context: Containerfile and files) from
# execution-environment.yml and the tarball of this checkout. Building the image from it needs
# podman or docker: `ansible-builder build` (see execution-environment.yml).
ee: build
	@mkdir -p .build/ee
	@version=$$($(BIN)/python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])') && \
	  cp .build/dist/genesys_dr-framework-$$version.tar.gz .build/ee/genesys_dr-framework.tar.gz
	$(BIN)/ansible-builder create --file execution-environment.yml --context .build/ee/context \
	  --output-filename Containerfile

# ansible-lint, production profile (.ansible-lint).
lint: deps
	$(BIN)/ansible-lint

changelog-lint: deps
	$(BIN)/antsibull-changelog lint

lab-up: deps
	$(LABCTL) up

lab-down:
	$(LABCTL) down
