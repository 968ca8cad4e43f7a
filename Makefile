# vigil — see README.md. Every target installs the Debian packages it needs
# (scripts/deps.sh) and the Go modules come from the module proxy.
GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
BIN     := bin/vigil

.PHONY: all build test test-short bench fuzz demo install deps vet fmt clean

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

bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/conf
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeAdvert$$' -fuzztime $(FUZZTIME) ./internal/vrrp

demo: deps build
	./scripts/demo.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/vigil
	install -D -m 0644 dist/vigil.service $(DESTDIR)/lib/systemd/system/vigil.service

clean:
	rm -rf bin
