#!/usr/bin/env bash
# watch_video.sh OUT.mp4 [EVENTS] [SEED] — a surveillance-like test video for the `vigie watch`
# benchmarks, built with ffmpeg from the *test* split of ../shared/data/firesmoke-cctv (images
# no vigie training run has seen): EVENTS times, 40 s of neutral scenes then a 10 s fire or
# smoke event (alternating). Neutral stretches cut between neutral images every 0.4-2 s (a
# patrolling camera, and the short distractions smoothing must ride out); an event shows 3
# fire or smoke images of ~3.3 s each. 5 fps, 320x320, with temporal noise so that no two
# frames are identical. Writes OUT.truth: one "start end class" line per event (seconds).
# ALL=1: neutral scenes and fires from the test splits of every shared dataset (see below).
# HARD=1: every other neutral cut is one of ../shared/data/hard-negatives (sunsets, fog, red
# flowers, warm lamps: look-alikes a fire detector falsely alarms on), for models that were
# not trained on them.
set -euo pipefail
OUT=$1
EVENTS=${2:-8}
RANDOM=${3:-7}
SHARED=${VIGIE_SHARED:-$(dirname "$0")/../../shared}
D=$(cd "$SHARED/data/firesmoke-cctv" && pwd)
mapfile -t NEU < <(grep '^neutral/' "$D/splits/test.txt")
mapfile -t FIR < <(grep '^fire/' "$D/splits/test.txt")
mapfile -t SMO < <(grep '^smoke/' "$D/splits/test.txt")
if [ "${ALL:-0}" = 1 ]; then
  # ALL=1: the test splits of every shared dataset, shuffled together: neutral-scenes' traffic
  # and CCTV scenes with firesmoke-cctv's neutrals, fire-footage's news and aerial fires
  # (class from their boxes: any fire box -> fire, else smoke) with firesmoke-cctv's
  NS=$(cd "$SHARED/data/neutral-scenes" && pwd)
  FF=$(cd "$SHARED/data/fire-footage" && pwd)
  mapfile -t -O "${#NEU[@]}" NEU < <(sed "s|^|$NS/|" "$NS/splits/test.txt")
  for img in "$FF"/test/images/*; do
    lab=$FF/test/labels/$(basename "${img%.*}").txt
    if grep -q '^0 ' "$lab" 2>/dev/null; then FIR+=("$img"); else SMO+=("$img"); fi
  done
  shuf_seeded() { awk -v s="$RANDOM" 'BEGIN { srand(s) } { print rand() "\t" $0 }' | sort -k1,1 | cut -f2-; }
  mapfile -t NEU < <(printf '%s\n' "${NEU[@]}" | shuf_seeded)
  mapfile -t FIR < <(printf '%s\n' "${FIR[@]}" | shuf_seeded)
  mapfile -t SMO < <(printf '%s\n' "${SMO[@]}" | shuf_seeded)
fi
HN=$(cd "$SHARED/data/hard-negatives" && pwd)
mapfile -t HARDS < <(cd "$HN" && ls neutral/*)
list=$OUT.list
: >"$list"
: >"$OUT.truth"
t=0 ni=$RANDOM fi=$RANDOM si=$RANDOM hi=$RANDOM cuts=0
# every image is first made 320x320 RGB JPEG: the concat demuxer mis-times a sequence whose
# images change size or pixel format (grayscale photos among colour ones)
TMPI=$(mktemp -d "${TMPDIR:-/tmp}/vigie-video-XXXXXX")
trap 'rm -rf "$TMPI"' EXIT
entry() { # entry IMAGE FRAMES (at 5 fps); IMAGE relative to the dataset, or absolute
  local path=$1
  [ "${path#/}" = "$path" ] && path=$D/$path
  local u
  u=$TMPI/$(printf '%s' "$path" | md5sum | cut -c1-16).jpg
  [ -f "$u" ] || ffmpeg -loglevel error -y -i "$path" -vf scale=320:320,format=yuvj444p -q:v 2 "$u"
  printf "file '%s'\nduration %s\n" "$u" "$(awk -v f="$2" 'BEGIN { printf "%.1f", f / 5 }')" >>"$list"
  t=$((t + $2))
}
for e in $(seq "$EVENTS"); do
  n=0
  while [ $n -lt 200 ]; do # 40 s of neutral cuts, 2..10 frames each
    f=$((2 + RANDOM % 9)); [ $((n + f)) -gt 200 ] && f=$((200 - n))
    cuts=$((cuts + 1))
    if [ "${HARD:-0}" = 1 ] && [ $((cuts % 2)) = 0 ]; then entry "$HN/${HARDS[$((hi++ % ${#HARDS[@]}))]}" $f
    else entry "${NEU[$((ni++ % ${#NEU[@]}))]}" $f; fi
    n=$((n + f))
  done
  s=$t
  for k in 1 2 3; do # 10 s of fire or smoke: 17 + 17 + 16 frames
    f=$((k == 3 ? 16 : 17))
    if [ $((e % 2)) = 1 ]; then entry "${FIR[$((fi++ % ${#FIR[@]}))]}" $f; cls=fire
    else entry "${SMO[$((si++ % ${#SMO[@]}))]}" $f; cls=smoke; fi
  done
  awk -v s="$s" -v e="$t" -v c="$cls" 'BEGIN { printf "%.1f %.1f %s\n", s / 5, e / 5, c }' >>"$OUT.truth"
done
# the concat demuxer ignores the last duration unless the file is listed again
tail -2 "$list" | head -1 >>"$list"
ffmpeg -loglevel error -y -f concat -safe 0 -i "$list" \
  -vf "fps=5,noise=alls=12:allf=t" -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$OUT"
rm -f "$list"
echo "$OUT: $EVENTS events, $((t / 5)) s"
