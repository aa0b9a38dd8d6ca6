# steward: the two commands a newcomer needs are `make run` and `make test`.
BUILD ?= build
SAN ?= 0
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

ifeq ($(SAN),1)
BUILD := build-san
CMAKE_FLAGS += -DSTEWARD_SAN=ON
endif

.PHONY: all build deps run test bench fuzz clean format

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./scripts/run.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	./bench/checkin/run.sh

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
