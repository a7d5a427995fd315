#!/usr/bin/env bash
# cross-setup.sh — installs what `make cross-test` needs: Debian's aarch64 cross compiler, the
# arm64 C library, qemu-user to run arm64 binaries on this host, and the arm64 builds of the
# libraries vigie links (through Debian multiarch: `dpkg --add-architecture arm64`). Idempotent:
# only missing packages are installed (and `apt-get update` runs only then). Uses sudo when not
# run as root. Only Debian's own repositories are needed. Installing an arm64 library may
# upgrade its amd64 twin to the same version (multiarch requires matching versions).
set -euo pipefail
SUDO=""
[ "$(id -u)" != 0 ] && SUDO=sudo

PKGS=(
  gcc-aarch64-linux-gnu     # the cross compiler (aarch64-linux-gnu-gcc) and binutils
  libc6-dev-arm64-cross     # arm64 libc headers + libs, and the sysroot /usr/aarch64-linux-gnu
  qemu-user                 # qemu-aarch64: runs arm64 Linux binaries on this host
  # the arm64 builds of what LDLIBS in the Makefile links (keep in step with it)
  libcairo2-dev:arm64       # -lcairo
  libjpeg62-turbo-dev:arm64 # -ljpeg
  libpng-dev:arm64          # -lpng
  libstb-dev:arm64          # stb_image.h (its BMP decoder is compiled in src/io/stb_bmp.c)
  zlib1g-dev:arm64          # -lz
  libavdevice-dev:arm64     # -lavdevice
  libavformat-dev:arm64     # -lavformat
  libavcodec-dev:arm64      # -lavcodec
  libswscale-dev:arm64      # -lswscale
  libavutil-dev:arm64       # -lavutil
  libmosquitto-dev:arm64    # -lmosquitto
  libyaml-dev:arm64         # -lyaml
  libsystemd-dev:arm64      # -lsystemd (the CLI)
  libprotobuf-c-dev:arm64   # -lprotobuf-c (ONNX; the generated code comes from the host's protoc-c)
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# arm64 packages need the architecture enabled; dpkg keeps it once added.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "cross-setup: enabling the arm64 architecture (dpkg multiarch)"
  $SUDO dpkg --add-architecture arm64
fi

missing=()
for p in "${PKGS[@]}"; do
  # qemu-user-static does the same job as qemu-user; either will do
  if [ "$p" = qemu-user ] && installed qemu-user-static; then continue; fi
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cross-setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
fi
command -v aarch64-linux-gnu-gcc >/dev/null
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null
echo "cross-setup: aarch64 cross toolchain, qemu-user and arm64 libraries present"
