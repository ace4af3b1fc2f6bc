# Ringmaster — the two commands: `make demo` and `make test`.
# Both install what is missing first (Debian packages via apt-get, with sudo when not root).

SHELL := /bin/bash
APT_PACKAGES := libsqlite3-dev libssh-dev openssh-server iproute2 pkg-config munge slurmctld slurmd slurm-client chromium \
	chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE := .build/release

.PHONY: all deps build test test-loaded fuzz demo agent cabi clean

all: build

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "==> installing $$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6.3 first"; exit 1; }

build: deps
	swift build

# The suites run one at a time (the thread-heavy collective tests starve each other on 2 cores), and
# the whole run is bounded: a hung test fails CI in 40 minutes (the suite takes ~10 on an idle 2-core
# machine, ~21 with both cores loaded), naming itself, instead of holding it.
# SSH hosts get the release agent and library (static: what the controller deploys; the debug agent links
# Swift's runtime dynamically and the controller refuses to upload it).
test: deps agent
	swift build --build-tests
	RINGMASTER_SHIPPED_LIBRARY=$(CURDIR)/$(RELEASE)/libRingmasterC.so timeout --kill-after=30 900 scripts/python-tests.sh .build/debug
	timeout --kill-after=30 600 scripts/schemathesis-test.sh .build/debug
	timeout --kill-after=30 900 scripts/console-test.sh .build/debug
	RINGMASTER_AGENT=$(CURDIR)/$(RELEASE)/ringmaster-agent scripts/swift-tests.sh 2400
	scripts/fuzz.sh 20

# The Swift suites LOADED_RUNS times in a row with every core kept busy by a bounded load beside them
# (scripts/loaded-tests.sh): the check that no test needs an idle machine.
LOADED_RUNS ?= 5
test-loaded: deps agent
	swift build --build-tests
	CI=true scripts/loaded-tests.sh $(LOADED_RUNS)

# Every fuzz target (Fuzz/, one per input surface) for FUZZ_SECONDS each, built with libFuzzer and the address
# sanitizer in .build-fuzz; fails on any crash, hang or unbounded allocation (scripts/fuzz.sh).
FUZZ_SECONDS ?= 120
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

demo: deps
	swift build -c release
	scripts/demo.sh $(RELEASE)
	@echo
	@echo "==> ringmaster place: the same job on an SSH inventory with a spare (no connection is made)"
	$(RELEASE)/ringmaster place Manifests/jobs/demo-3d.yaml --cluster Manifests/clusters/ssh-example.yaml
	@echo
	@echo "==> ringmaster plan Manifests/jobs/plan-llama3-405b.yaml"
	$(RELEASE)/ringmaster plan Manifests/jobs/plan-llama3-405b.yaml

# The node agent for SSH hosts: a release build (Swift's runtime linked in) that needs only libc, libstdc++
# and libgcc_s on the node. Point RINGMASTER_AGENT at it (or `ringmaster nodes --agent`).
agent: deps cabi
	swift build -c release --product ringmaster-agent
	@ls -l .build/release/ringmaster-agent

# The C ABI library (libRingmasterC.so) for Python ranks, with Swift's runtime linked in so it loads on
# nodes without a Swift toolchain. The controller uploads it with the agent found beside it.
cabi: deps
	swift build -c release --product RingmasterC
	@ls -l $(RELEASE)/libRingmasterC.so

clean:
	swift package clean
