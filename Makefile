# steward: the two commands a newcomer needs are `make run` and `make test`.
BUILD ?= build
SAN ?= 0
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

ifeq ($(SAN),1)
BUILD := build-san
CMAKE_FLAGS += -DSTEWARD_SAN=ON
endif

.PHONY: all build deps run test test-postgresql bench fuzz clean format release deb

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./scripts/run.sh

# Three tests per core, and a "cpu" resource of two slots per core that
# every test but the clock-bound ones takes one of (tests/system/
# CMakeLists.txt): most system tests spend their time waiting for a site to
# do something, so twice as many as there are cores keep the cores busy.
CTEST_RUN = printf '{"version":{"major":1,"minor":0},"local":[{"cpu":[{"id":"0","slots":%s}]}]}\n' \
		$$(($(JOBS) * 2)) >$(BUILD)/resources.json && \
	cd $(BUILD) && ctest --output-on-failure -j $$(($(JOBS) * 3)) --resource-spec-file resources.json \
		--timeout 600

# make test runs the unit tests, each system test on SQLite and its twin on
# PostgreSQL (system_pg_NAME, tests/system/CMakeLists.txt), and the fuzz
# targets' corpora. make test-postgresql runs only the tests labelled
# postgresql.
test: build
	$(CTEST_RUN)

test-postgresql: build
	$(CTEST_RUN) -L postgresql

bench: build
	./bench/checkin/run.sh
	./bench/inventory/run.sh
	./bench/content/run.sh
	./bench/replication/run.sh
	./bench/rollout/run.sh
	./bench/delta/run.sh
	./bench/agent/run.sh
	./bench/scale/run.sh

# A signed release of this source: build/releases/steward-$(VERSION).tar.zst.
# RELEASE_KEY comes from `build/bin/stewardctl releases keygen --out FILE`.
# PREVIOUS=build/releases/steward-OLD.tar.zst adds deltas from that release.
release: deps
	PREVIOUS="$(PREVIOUS)" ./scripts/release.sh "$(VERSION)" "$(RELEASE_KEY)"

# steward-site, steward-agent and steward-console .deb packages in
# $(BUILD)/deb from this build (packaging/deb/build.sh; docs/packaging.md)
deb: build
	./packaging/deb/build.sh $(BUILD) $(BUILD)/deb

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fuzz every parser of outside input with libFuzzer (clang) for FUZZ_SECONDS
# each. New inputs collect in build-fuzz/corpus/NAME, crashes in
# build-fuzz/artifacts/NAME; docs/internals/fuzzing.md says how to keep them.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= checkin enroll config misc query inventory rpm_header manifest http_range release deltas \
	console_update link_batch window

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSTEWARD_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t build-fuzz/artifacts/$$t || exit 1; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz: fuzz_$$t for $(FUZZ_SECONDS)s"; \
		./build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 $$dict \
			-artifact_prefix=build-fuzz/artifacts/$$t/ \
			build-fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done
