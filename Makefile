#
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.
#

#
# Build of mname-balancer, the Binder DNS load balancer, in Go.  GNU make.
#
#	make            (all) the balancer and balstat for this machine, in
#	                $(BIN)/bbal and $(BIN)/balstat
#	make release    the illumos (SmartOS) build: a proto tree in
#	                $(BUILD)/proto and $(BUILD)/mname-balancer.tar.gz
#	make check      no ELF file tracked by git (check-no-elf), gofmt,
#	                go vet (host, illumos, and cmd/bbal with the
#	                e2e tests' bbaltest tag), staticcheck (host, illumos) if
#	                installed, shellcheck of the SMF methods and of
#	                test/illumos's run-tests.sh and regen.sh, xmllint of the
#	                SMF manifests against the DTD in $(SMF_DTD) (a missing
#	                tool or DTD skips that lint, but fails under CI)
#	make test       everything CI runs: the npm test peers if missing, check,
#	                the allocation tests without -race, then
#	                go test -race ./..., which includes illumos-tests
#	                (compiled and symbol-checked, not run) and a check of
#	                its tarball (test/illumos)
#	make illumos-tests  bbal, balstat and every package's test binary built
#	                for illumos, their imports checked against illumos's
#	                libraries (test/illumos/symcheck), and the tests that
#	                run in a zone in $(BUILD)/illumos-tests.tar.gz with
#	                run-tests.sh: unpack it in a SmartOS zone and run
#	                ./run-tests.sh (README)
#	make bench      the side-by-side benchmark (a few minutes, not in CI):
#	                bbal, dnsdist, a recvmmsg reflector and the echo
#	                backends direct, one table of figures and ratios;
#	                BBAL=path benches another balancer binary,
#	                BBAL_COMPARE=path adds one as a column of the same run;
#	                BENCH_FLAGS passes options (bin/bench -h: -pin, -poll;
#	                -counts: only the counted figures, syscalls need perf)
#	make bench-smoke the same paths for a second each (make test runs it)
#	make soak       the hostile-conditions soak (a few minutes, not in CI)
#	                (these three install the npm peers only if missing:
#	                npm ci would wipe a test/node_modules others share)
#	make clean      remove $(BIN) and $(BUILD)
#	make PROG=/path/to/balancer /path/to/balancer
#	                Binder's build (its Makefile's "balancer" target runs
#	                exactly "cd deps/mname-balancer && $(MAKE)
#	                PROG=$(ROOT)/balancer OBJ_DIR=$(ROOT)/tmp/balancer.obj
#	                CTFCONVERT=$(CTFCONVERT) $(ROOT)/balancer"): the illumos
#	                balancer, built as the release's is, at $(PROG).  Native
#	                on SmartOS, a cross-build anywhere else (GOOS=illumos is
#	                both).  OBJ_DIR and CTFCONVERT are accepted and ignored:
#	                Go keeps its objects in its own build cache, and a Go
#	                binary carries DWARF, not CTF (ctfconvert has nothing to
#	                convert, and the release strips DWARF anyway).  GO names
#	                the toolchain, so Binder can point at its own.
#	make BALSTAT_PROG=/path/to/balstat /path/to/balstat
#	                the same for balstat, for Binder's bin/balstat
#
# The release tarball unpacks at / of a SmartOS zone:
#
#	opt/smartdc/binder/bin/balstat                   the operator's tool, 755
#	opt/smartdc/binder/lib/balancer                  the program, 755
#	opt/smartdc/binder/smf/manifests/*.xml           from smf/manifests, 644
#	opt/smartdc/binder/smf/methods/*                 from smf/methods, 755
#
# The released balstat is cgo-free like the balancer, so its -k (kernel
# kstats, through libkstat) says it needs cgo; on a SmartOS build zone,
# "CGO_ENABLED=1 go build ./cmd/balstat" gives one that reads them.
#
# The start methods named in the manifests are these method paths; keep the
# two in step.
#
# The release is reproducible: the same sources and Go toolchain give a
# byte-identical tarball, whoever builds it, wherever, whenever, with
# whatever umask.  The Go build has no build ID, no VCS stamp and no file
# system paths (-trimpath), and pins GOAMD64; the version (bbal -V, the
# "starting up" record, bbal_build_info) is stamped with -X from "git
# describe" of the commit, which is the same for every clone of it (give
# VERSION=... where there is no git); the tar has entries sorted by
# name, owner and group 0 with no names, mtime 0 and modes set here; gzip
# stores no name and no time (-n).  This needs GNU tar (TAR=gtar on SmartOS).
#
# Everything written goes under $(BIN) and $(BUILD), both overridable
# (make release BUILD=/tmp/x), so a build can stay out of the tree.
#

GO ?= go
TAR ?= tar
GZIP ?= gzip
SHELLCHECK ?= shellcheck
XMLLINT ?= xmllint
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || \
	{ test -x "$$HOME/go/bin/staticcheck" && echo "$$HOME/go/bin/staticcheck"; })

BIN ?= bin
BUILD ?= build
SMF_DTD ?= ../shared/smf/service_bundle.dtd.1

# The version stamped into both programs (package version), by every build
# here (make, make release, Binder's PROG); left empty, the binary falls
# back to what the Go toolchain recorded, if anything (GOFLAGS may say
# -buildvcs=false), else "unknown".
VERSION ?= $(shell git describe --tags --always --dirty --abbrev=12 2>/dev/null)

PROTO = $(BUILD)/proto
PREFIX = opt/smartdc/binder
RELEASE_BIN = $(BUILD)/illumos-amd64/bbal
RELEASE_BALSTAT = $(BUILD)/illumos-amd64/balstat
TARBALL = $(BUILD)/mname-balancer.tar.gz
ILLUMOS_TESTS = $(BUILD)/illumos-tests
ILLUMOS_UNPACKED = $(BUILD)/illumos-unpacked

ILLUMOS_ENV = GOOS=illumos GOARCH=amd64 GOAMD64=v1 CGO_ENABLED=0
STAMP = $(if $(VERSION),-X github.com/joyent/mname-balancer/version.stamped=$(VERSION))
RELEASE_GOFLAGS = -trimpath -buildvcs=false -ldflags '-buildid= -s -w $(STAMP)'

SMF_MANIFESTS = $(sort $(wildcard smf/manifests/*.xml))
SMF_METHODS = $(sort $(wildcard smf/methods/*))
SHELL_SCRIPTS = test/illumos/run-tests.sh test/illumos/symbols/regen.sh

BBAL ?= $(BIN)/bbal

.PHONY: all release check check-no-elf test clean bench bench-smoke soak illumos-tests

#
# Binder's build: "make PROG=... OBJ_DIR=... CTFCONVERT=... $(PROG)".  The
# rule exists only when PROG is given, and always runs (go build decides
# what is out of date).  BALSTAT_PROG does the same for balstat, which
# Binder ships over its mdb-based bin/balstat (docs/binder.md).
#
ifdef PROG
.PHONY: $(PROG)
$(PROG):
	@mkdir -p $(dir $(PROG))
	$(ILLUMOS_ENV) $(GO) build $(RELEASE_GOFLAGS) -o $(PROG) ./cmd/bbal
endif
ifdef BALSTAT_PROG
.PHONY: $(BALSTAT_PROG)
$(BALSTAT_PROG):
	@mkdir -p $(dir $(BALSTAT_PROG))
	$(ILLUMOS_ENV) $(GO) build $(RELEASE_GOFLAGS) -o $(BALSTAT_PROG) ./cmd/balstat
endif

all:
	$(GO) build -ldflags '$(STAMP)' -o $(BIN)/bbal ./cmd/bbal
	$(GO) build -ldflags '$(STAMP)' -o $(BIN)/balstat ./cmd/balstat

release:
	rm -rf $(PROTO) $(TARBALL) $(BUILD)/mname-balancer.tar
	$(ILLUMOS_ENV) $(GO) build $(RELEASE_GOFLAGS) -o $(RELEASE_BIN) ./cmd/bbal
	$(ILLUMOS_ENV) $(GO) build $(RELEASE_GOFLAGS) -o $(RELEASE_BALSTAT) ./cmd/balstat
	mkdir -p $(PROTO)/$(PREFIX)/bin $(PROTO)/$(PREFIX)/lib $(PROTO)/$(PREFIX)/smf/manifests \
	    $(PROTO)/$(PREFIX)/smf/methods
	cp $(RELEASE_BIN) $(PROTO)/$(PREFIX)/lib/balancer
	cp $(RELEASE_BALSTAT) $(PROTO)/$(PREFIX)/bin/balstat
	cp $(SMF_MANIFESTS) $(PROTO)/$(PREFIX)/smf/manifests/
	cp $(SMF_METHODS) $(PROTO)/$(PREFIX)/smf/methods/
	find $(PROTO) -type d -exec chmod 755 {} +
	chmod 644 $(PROTO)/$(PREFIX)/smf/manifests/*
	chmod 755 $(PROTO)/$(PREFIX)/lib/balancer $(PROTO)/$(PREFIX)/bin/balstat \
	    $(PROTO)/$(PREFIX)/smf/methods/*
	$(TAR) -C $(PROTO) --format=gnu --sort=name --owner=0 --group=0 \
	    --numeric-owner --mtime=@0 -cf $(BUILD)/mname-balancer.tar opt
	$(GZIP) -n -9 $(BUILD)/mname-balancer.tar

check: check-no-elf
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then \
	    echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags bbaltest ./cmd/bbal
	$(ILLUMOS_ENV) $(GO) vet ./...
	@if [ -n "$(STATICCHECK)" ]; then echo "$(STATICCHECK) ./..."; \
	    $(STATICCHECK) ./... && echo "$(ILLUMOS_ENV) $(STATICCHECK) ./..." && \
	    $(ILLUMOS_ENV) $(STATICCHECK) ./...; else echo "staticcheck not installed: skipped"; fi
	@for tool in $(SHELLCHECK) $(XMLLINT); do command -v $$tool >/dev/null || { \
	    if [ -n "$$CI" ]; then echo "$$tool is missing (apt-get install shellcheck libxml2-utils)"; exit 1; fi; \
	    echo "$$tool not installed: SMF lint skipped (.ci/run installs it)"; exit 0; }; done; \
	    echo "$(SHELLCHECK) $(SMF_METHODS) $(SHELL_SCRIPTS)" && $(SHELLCHECK) $(SMF_METHODS) $(SHELL_SCRIPTS) || exit 1; \
	    if [ ! -f "$(SMF_DTD)" ]; then \
	    if [ -n "$$CI" ]; then echo "SMF DTD $(SMF_DTD) is missing"; exit 1; fi; \
	    echo "SMF DTD $(SMF_DTD) not found: manifest validation skipped (CI fails instead)"; exit 0; fi; \
	    echo "$(XMLLINT) --dtdvalid $(SMF_DTD) $(SMF_MANIFESTS)" && \
	    $(XMLLINT) --noout --nowarning --dtdvalid $(SMF_DTD) $(SMF_MANIFESTS)

# No built program is committed: every file git tracks is checked for the
# ELF magic (outside a git checkout there is nothing to check).
check-no-elf:
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout: ELF check skipped"; exit 0; }; \
	    elves=$$(git ls-files -z | xargs -0 sh -c 'for f do \
	        [ -f "$$f" ] && [ "$$(head -c 4 "$$f" | od -An -c | tr -d " ")" = "177ELF" ] && echo "$$f"; \
	    done; exit 0' sh); \
	    if [ -n "$$elves" ]; then echo "ELF files are tracked by git (build outputs belong in bin/ or build/):" $$elves; exit 1; fi

# go test ./test/illumos runs make illumos-tests (into a temporary BUILD) and
# checks the tarball, so go test -race ./... builds and symbol-checks the
# illumos binaries.
test: check test/node_modules/.package-lock.json
	# The allocation proofs without -race, which skips some of them.
	$(GO) test -count=1 -run Alloc ./bunyan ./evport ./backend ./proxy ./remote
	$(GO) test -race ./...

# The real peers of the end-to-end tests: node-mname and the bunyan CLI.
test/node_modules/.package-lock.json: test/package.json test/package-lock.json
	cd test && npm ci --no-audit --no-fund

bench: all | test/node_modules/.package-lock.json
	$(GO) build -o $(BIN)/bench ./test/bench/cmd/bench
	$(BIN)/bench -bbal $(BBAL) $(if $(BBAL_COMPARE),-compare $(BBAL_COMPARE)) $(BENCH_FLAGS)

bench-smoke: all | test/node_modules/.package-lock.json
	$(GO) build -o $(BIN)/bench ./test/bench/cmd/bench
	$(BIN)/bench -smoke -bbal $(BBAL)

soak: all | test/node_modules/.package-lock.json
	$(GO) build -o $(BIN)/bench ./test/bench/cmd/bench
	$(BIN)/bench -soak -bbal $(BBAL)

# Every package's test binary, bbal and balstat, built for illumos, and
# test/illumos/symcheck run over them all: it fails, naming the symbol, the
# binary and the importing package, on any name that the NEEDED illumos
# libraries do not export (test/illumos/symbols), which the Go linker lets
# through and illumos's run-time linker refuses at start.  The tarball packs
# the test binaries that run in a zone with nothing else installed: every
# package outside test/, with its testdata.  The packages under test/ need
# what a zone lacks (e2e: node, node-mname and a Go build of bbal; smftest:
# make and the source tree; cparity: the C program's source; bench: Linux;
# illumos: Go): they are built and checked here, in $(ILLUMOS_UNPACKED), not
# packed.
illumos-tests:
	rm -rf $(ILLUMOS_TESTS) $(ILLUMOS_TESTS).tar.gz $(ILLUMOS_UNPACKED)
	mkdir -p $(ILLUMOS_TESTS) $(ILLUMOS_UNPACKED)
	$(ILLUMOS_ENV) $(GO) build -o $(ILLUMOS_UNPACKED)/bbal ./cmd/bbal
	$(ILLUMOS_ENV) $(GO) build -o $(ILLUMOS_UNPACKED)/balstat ./cmd/balstat
	module=$$($(GO) list -m) && \
	for pkg in $$($(ILLUMOS_ENV) $(GO) list \
	    -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
		dir=$${pkg#"$$module"/}; \
		case $$dir in test/*) out=$(ILLUMOS_UNPACKED)/$$dir ;; *) out=$(ILLUMOS_TESTS)/$$dir ;; esac; \
		$(ILLUMOS_ENV) $(GO) test -c -o $$out/$${dir##*/}.test $$pkg || exit 1; \
		if [ -d $$dir/testdata ]; then cp -R $$dir/testdata $$out/; fi; \
	done
	$(GO) run ./test/illumos/symcheck $$(find $(ILLUMOS_UNPACKED) $(ILLUMOS_TESTS) -type f \
	    \( -name '*.test' -o -name bbal -o -name balstat \) | sort)
	cp test/illumos/run-tests.sh $(ILLUMOS_TESTS)/
	$(TAR) -C $(BUILD) -czf $(ILLUMOS_TESTS).tar.gz illumos-tests

clean:
	rm -rf $(BIN) $(BUILD)
