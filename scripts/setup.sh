#!/usr/bin/env bash
# setup.sh — installs vigie's build and test dependencies from Debian's packages. Idempotent:
# only missing packages are installed. Uses sudo when not run as root.
set -euo pipefail
PKGS=(
  build-essential       # gcc, make; libasan/libubsan for make SAN=1
  libjpeg-dev           # JPEG decoding (libjpeg-turbo)
  libpng-dev            # PNG decoding
  libstb-dev            # BMP decoding (stb_image.h, compiled in src/io/stb_bmp.c)
  zlib1g-dev            # CRC-32 of model files
  libcairo2-dev         # PNG figures of vigie train / eval (training curves, confusion, ROC)
  libavformat-dev       # vigie watch: demuxing video files and RTSP / HTTP / MJPEG streams
  libavcodec-dev        # vigie watch: decoding their frames
  libswscale-dev        # vigie watch: converting frames to RGB
  libavutil-dev         # vigie watch: FFmpeg utilities (options, errors, frames)
  libavdevice-dev       # vigie watch: V4L2 cameras (/dev/videoN) through FFmpeg's device layer
  libmosquitto-dev      # vigie watch --mqtt: MQTT client (events, retained state, Last Will)
  libyaml-dev           # detection datasets: the data.yaml of YOLO / Roboflow exports
  libsystemd-dev        # vigie watch --config under systemd: readiness and watchdog (sd_notify)
  libprotobuf-c-dev     # ONNX import / export: the protobuf runtime (-lprotobuf-c)
  protobuf-c-compiler   # protoc-c: the C code of onnx.proto, generated at build time
  libonnx-dev           # onnx.proto itself (/usr/include/onnx/onnx.proto)
  systemd               # tests/install_test.sh: systemd-analyze verify of vigie.service
  mosquitto             # tests/watch_test.sh: a real MQTT broker on 127.0.0.1
  mosquitto-clients     # tests/watch_test.sh: mosquitto_sub checks what vigie published
  ffmpeg                # tests/watch_test.sh, bench/watch_*.sh: builds test videos from images
  openssl               # tests/watch_test.sh: a test CA and broker certificate for MQTT over TLS
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
