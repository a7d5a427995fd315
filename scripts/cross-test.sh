#!/usr/bin/env bash
# cross-test.sh — runs the aarch64 unit-test binary (built by `make cross`) under qemu-user from
# the repository root, so ../shared is found as natively (VIGIE_SHARED overrides), and checks
# that the run really went through the NEON kernels: the output must list the neon kernel table
# as the best one and test the neon GEMM micro-kernel and the int8 GEMM with SDOT; the int8
# tests then run again on an emulated Cortex-A57 (ARMv8.0, no SDOT). Used by `make cross-test`; the log is
# kept beside the binary.
#
# Run-time libraries: the arm64 libjpeg/libpng/libstb/zlib come from Debian multiarch
# (/usr/lib/aarch64-linux-gnu), which also installs libc6:arm64 with its loader
# /lib/ld-linux-aarch64.so.1, so the guest's root is "/". Not the cross sysroot
# /usr/aarch64-linux-gnu: its loader (libc6-arm64-cross) is a different glibc build from the
# multiarch libc.so.6 the libraries pull in, and with that mix fork() never returns in the child
# (tests/test_core.c forks; system() forks). QEMU_LD_PREFIX overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build-aarch64/test_vigie}
shift || true
QEMU=${QEMU:-$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)}
if [ -z "$QEMU" ]; then
  echo "cross-test: no qemu-aarch64; run scripts/cross-setup.sh" >&2
  exit 2
fi
unset VIGIE_KERNELS # the check below wants the table the CPU picks
if [ -z "${QEMU_LD_PREFIX:-}" ]; then
  if [ -e /lib/ld-linux-aarch64.so.1 ]; then QEMU_LD_PREFIX=/; else QEMU_LD_PREFIX=/usr/aarch64-linux-gnu; fi
fi
export QEMU_LD_PREFIX
LOG="$BIN.log"
start=$(date +%s)
status=0
"$QEMU" "$BIN" "$@" 2>&1 | tee "$LOG" || status=$?
echo "cross-test: $BIN under $(basename "$QEMU") took $(($(date +%s) - start)) s"
if [ "$status" != 0 ]; then
  echo "cross-test: unit tests failed under qemu (exit $status)" >&2
  exit 1
fi
# a filtered run (an argument) need not reach the kernel tests
if [ $# -eq 0 ]; then
  for want in 'kernel tables:.*(best: neon)' 'micro-kernel neon' 'int8 GEMM kernels chosen: NEON dotprod'; do
    if ! grep -q "$want" "$LOG"; then
      echo "cross-test: the output lacks '$want': the NEON kernels were not exercised" >&2
      exit 1
    fi
  done
  # qemu's default CPU has the dot-product extension; an ARMv8.0 core (the Jetson Nano's
  # Cortex-A57) takes the int8 kernels without SDOT: the int8 tests again on that CPU
  status=0
  QEMU_CPU=cortex-a57 "$QEMU" "$BIN" quant 2>&1 | tee "$BIN.a57.log" || status=$?
  QEMU_CPU=cortex-a57 "$QEMU" "$BIN" engine 2>&1 | tee -a "$BIN.a57.log" || status=$?
  if [ "$status" != 0 ] || ! grep -q 'int8 GEMM kernels chosen: NEON$' "$BIN.a57.log"; then
    echo "cross-test: the int8 tests failed on a Cortex-A57 (no SDOT), or did not use NEON" >&2
    exit 1
  fi
  echo "cross-test: NEON kernels exercised (neon table best, neon micro-kernel tested, int8 GEMM with and without SDOT)"
fi
