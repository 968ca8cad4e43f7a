# vigil — see README.md. Every target installs the Debian packages it needs
# (scripts/deps.sh) and the Go modules come from the module proxy.
GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
BIN     := bin/vigil

.PHONY: all build test test-short bench faults fuzz demo install deps vet fmt clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vigil

deps:
	./scripts/deps.sh test

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

# Every test: unit, golden, fuzz seeds, the network-namespace tests against
# Debian's keepalived and the IPVS tests in a qemu VM. Root-only tests skip
# with their reason when not run as root.
test: deps build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m -p 2 ./...

# Unit tests only: no namespaces, no VM.
test-short:
	$(GO) test -short ./...

# Benchmarks against keepalived 2.2.7 (root: namespace labs, qemu): each one
# BENCHCOUNT times, medians in bench/results.md, chart bench/failover.png,
# raw go test output in bench/raw/. About 29 minutes on 2 cores, of which the
# 1,000 and 10,000 TCP_CHECKs next to keepalived in a host network namespace
# (check-host) take 5.5. BENCHFLAGS=-vm=false skips the VM steps (IPVS sync,
# and the health checkers next to keepalived on the real ip_vs at 200 real
# servers); BENCHFLAGS='-only check-host' reruns one step;
# BENCHFLAGS='-reuse -raw bench/raw -out /tmp/dry' re-renders without running anything.
BENCHCOUNT ?= 3
BENCHFLAGS ?=
bench: deps build
	$(GO) run ./internal/bench/cmd/report -count $(BENCHCOUNT) $(BENCHFLAGS)

# The fault suite alone (it also runs in make test: about 95 s, root).
faults: deps build
	$(GO) test -count=1 -v -timeout 15m ./internal/faults

# Fuzz every target in turn for FUZZTIME each; the corpus stays in testdata.
FUZZTIME ?= 30s
fuzz:
	@set -e; grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' internal cmd | sort -u | \
	while IFS=: read -r file fn; do \
		fn=$${fn#func }; pkg=./$$(dirname $$file); \
		echo "== $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg </dev/null; \
	done

demo: deps build
	./scripts/demo.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/vigil
	install -D -m 0644 dist/vigil.service $(DESTDIR)/lib/systemd/system/vigil.service

clean:
	rm -rf bin
