#!/usr/bin/env bash
# setup.sh — installs vigie's build and test dependencies from Debian's packages. Idempotent:
# only missing packages are installed. Uses sudo when not run as root.
set -euo pipefail
PKGS=(
  build-essential       # gcc, make; libasan/libubsan for make SAN=1
  libjpeg-dev           # JPEG decoding (libjpeg-turbo)
  libpng-dev            # PNG decoding
  libstb-dev            # BMP decoding (stb_image)
  zlib1g-dev            # CRC-32 of model files
  libcairo2-dev         # PNG figures of vigie train / eval (training curves, confusion, ROC)
  clang                 # make fuzz (libFuzzer)
  libclang-rt-14-dev    # libFuzzer runtime for clang 14
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup: dependencies present"
