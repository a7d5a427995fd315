#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it: dependencies, a warnings-as-errors build,
# unit + CLI end-to-end tests, the same again under ASan+UBSan, the unit tests under TSan, and
# a short libFuzzer run of every loader/decoder (FUZZ_SECONDS each, default 15; 0 skips). Last,
# the aarch64 cross build with the unit tests under qemu-user, so the NEON kernels are tested
# (CROSS=0 skips; about 1.5 min the first time on a 2-core machine, installs included, then
# about 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=${JOBS:-2}
make -j"$JOBS" CFLAGS=-Werror
make -j"$JOBS" CFLAGS=-Werror test
make -j"$JOBS" SAN=1 CFLAGS=-Werror test
# allocation failure under ASan: each command with its N-th allocation failing (a sample of N,
# tests/alloc_test.sh; ALLOC_FULL=1 for every N), about 3 minutes
make -j"$JOBS" SAN=1 CFLAGS=-Werror alloc-test
# the unit tests under ThreadSanitizer (thread pool, loader, watch reader, runners created by
# several threads at once: tests/test_threads.c); about 2 minutes
make -j"$JOBS" SAN=thread CFLAGS=-Werror build-tsan/test_vigie
./build-tsan/test_vigie
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  make -j"$JOBS" fuzz
  bash tests/fuzz/run.sh "$FUZZ_SECONDS"
fi
if [ "${CROSS:-1}" = 1 ]; then
  bash scripts/cross-setup.sh && make -j"$JOBS" CFLAGS=-Werror cross-test
fi
echo "test.sh: all tests passed"
