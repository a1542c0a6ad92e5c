# posture - a validating admission webhook that keeps a service mesh's security posture.
# `make help` lists the targets.

BUILD    ?= build
CC       ?= cc
PKGS     := libmicrohttpd gnutls libcrypto jansson yaml-0.1
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wvla
CFLAGS   ?= -O2 -g
SAN      ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -Iwebhook
LDLIBS     := $(PKG_LIBS) -lpthread -lm
VERSION    := $(shell git describe --always --dirty 2>/dev/null || echo dev)

SRC      := $(sort $(wildcard webhook/*.c webhook/rules/*.c))
LIB_SRC  := $(filter-out webhook/main.c,$(SRC))
OBJ      := $(patsubst %.c,$(BUILD)/obj/%.o,$(SRC))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all help deps run test unit tests clean bench
all: $(BUILD)/posture

help:
	@echo "make            build $(BUILD)/posture"
	@echo "make run        install missing dependencies, build, create a dev certificate, serve on 127.0.0.1:8443"
	@echo "make test       install missing dependencies, run every suite normally and under ASan+UBSan"
	@echo "make unit       build and run the unit tests only (BUILD=... SAN=... to vary)"
	@echo "make bench      benchmark posture against nginx and libmicrohttpd fixed-answer ceilings over TLS"
	@echo "                (BENCH_SECONDS=10 per point; BENCH_QUICK=1 for a 1-minute smoke run)"
	@echo "make fuzz       build the libFuzzer targets (clang-14, ASan+UBSan) into build-fuzz/ and run each"
	@echo "                for FUZZ_SECONDS (default 300; FUZZ_RUNS=N caps executions); new inputs in"
	@echo "                tests/fuzz/work/ (make fuzz-build only builds them)"
	@echo "make soak       1,000,000 reviews with wrk over keep-alive connections: zero non-200, RSS"
	@echo "                growth; certificate rotation, SIGHUP and SIGTERM under load (SOAK_REQUESTS=N)"
	@echo "make valgrind   unit tests and the end-to-end suite under valgrind memcheck"
	@echo "make deps       install missing build and test dependencies (apt-get as root)"
	@echo "make clean      remove build outputs"
	@echo "make manifests render manifests/ from the policies and write the git-ignored overlay manifests/local"
	@echo "                (certificates, Secret, caBundle): kubectl apply -k manifests/local"
	@echo "                (POLICY=policies/rollout.yaml to install warn-only; IMAGE=... the image)"
	@echo "make image      build the container image $(IMAGE) with docker"

deps:
	@sh tests/deps.sh

$(BUILD)/posture: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJ) $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DPOSTURE_VERSION='"$(VERSION)"' -MMD -MP -c $< -o $@

# The files that print the version are rebuilt when it changes: git describe moves with every
# commit, and an incremental build must not report the commit it was first built at.
VERSION_USERS := $(patsubst %.c,$(BUILD)/obj/%.o,$(shell grep -l POSTURE_VERSION $(SRC)))
$(VERSION_USERS): $(BUILD)/version.txt
$(BUILD)/version.txt: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = '$(VERSION)' ] || echo '$(VERSION)' >$@
.PHONY: FORCE
FORCE:

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LDLIBS)

tests: $(BUILD)/posture $(TEST_BIN)

unit: tests
	@for t in $(TEST_BIN); do $$t || true; done

test: deps
	@bash tests/run.sh

run: deps
	@sh tests/run-dev.sh

bench: deps
	@bash tests/bench/run.sh

clean:
	rm -rf build build-*

# manifests/: render what derives from the policies, then the local overlay (docs/install.md).
IMAGE  ?= posture:dev
POLICY ?= policies/default.yaml
.PHONY: manifests image
manifests: $(BUILD)/posture
	@sh manifests/render.sh $(BUILD)/posture
	@POLICY='$(POLICY)' IMAGE='$(IMAGE)' CA_BUNDLE='$(CA_BUNDLE)' sh manifests/make-local.sh $(BUILD)/posture

image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not installed (it builds the Dockerfile)" >&2; exit 1; }
	@timeout 20 docker info >/dev/null 2>&1 || { echo "make image: docker is installed but no Docker engine answers (docker info failed): start the daemon or set DOCKER_HOST" >&2; exit 1; }
	docker build --build-arg VERSION='$(VERSION)' -t '$(IMAGE)' .

# ---- long runs outside `make test`: fuzzing, soak, valgrind (tests/fuzz/run.sh, tests/soak/,
# tests/valgrind.sh). Fuzz targets link the library objects of a BUILD compiled with
# -fsanitize=fuzzer-no-link (run.sh sets BUILD=build-fuzz, CC=clang-14 and SAN).
FUZZ_SECONDS ?= 300
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRC))
.PHONY: fuzz fuzz-build fuzz-targets soak valgrind
fuzz-targets: $(FUZZ_BIN)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(LDLIBS)

fuzz-build:
	@bash tests/fuzz/run.sh build

fuzz: deps
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' bash tests/fuzz/run.sh run

soak: deps
	@bash tests/soak/run.sh

valgrind: deps
	@bash tests/valgrind.sh

-include $(OBJ:.o=.d)
