#!/usr/bin/env bash
# watch_tradeoff.sh MODEL [EVENTS] — false alarms against detection delay of `vigie watch`'s
# alarm settings, on a test video from bench/watch_video.sh (test-split images: neutral cuts
# with 10 s fire / smoke events; HARD=1 mixes in the hard negatives, see there). For each setting: events detected, mean and worst delay
# from the event's first frame to alarm_start, false alarms (alarm_start outside an event).
# Not a test: it prints a table for the README. Each setting classifies the whole video again
# (~20 s for 2000 frames at 224x224 on one core).
set -euo pipefail
MODEL=$1
EVENTS=${2:-8}
VIGIE=${VIGIE:-$(dirname "$0")/../build/vigie}
W=$(mktemp -d "${TMPDIR:-/tmp}/vigie-tradeoff-XXXXXX")
trap 'rm -rf "$W"' EXIT
bash "$(dirname "$0")/watch_video.sh" "$W/v.mp4" "$EVENTS" >/dev/null
# settings: name, then vigie watch options (events are 50 s apart, false alarms can come
# just before one: the cool-down then delays the real alarm, which is part of the trade-off)
# the model's own alarm threshold (vigie train stores it), for the per-frame rule
THR=$("$VIGIE" info "$MODEL" --json | grep -o '"alarm_threshold":"[0-9.]*"' | grep -o '[0-9][0-9.]*' || echo 0.5)
SETTINGS=(
  "window 10, the model's levels (default), min 2 s, cool-down 10|--window 10 --min-duration 2 --cooldown 10"
  "window 5, the model's levels, min 2 s, cool-down 10|--window 5 --min-duration 2 --cooldown 10"
  "window 10, the model's levels, min 1 s, cool-down 10|--window 10 --min-duration 1 --cooldown 10"
  "per frame, the model's threshold, cool-down 10|--window 1 --on $THR --off $THR --min-duration 0 --cooldown 10"
  "per frame (model rule, p>=0.5), cool-down 30|--window 1 --on 0.5 --off 0.5 --min-duration 0 --cooldown 30"
  "per frame, 0.7/0.4, cool-down 30|--window 1 --on 0.7 --off 0.4 --min-duration 0 --cooldown 30"
  "window 5, 0.7/0.4, min 0, cool-down 30|--window 5 --on 0.7 --off 0.4 --min-duration 0 --cooldown 30"
  "window 5, 0.7/0.4, min 1 s, cool-down 30|--window 5 --on 0.7 --off 0.4 --min-duration 1 --cooldown 30"
  "window 5, 0.7/0.4, min 2 s, cool-down 30|--window 5 --on 0.7 --off 0.4 --min-duration 2 --cooldown 30"
  "window 5, 0.5/0.3, min 1 s, cool-down 30|--window 5 --on 0.5 --off 0.3 --min-duration 1 --cooldown 30"
  "window 5, 0.8/0.5, min 1 s, cool-down 30|--window 5 --on 0.8 --off 0.5 --min-duration 1 --cooldown 30"
  "window 10, 0.7/0.4, min 1 s, cool-down 30|--window 10 --on 0.7 --off 0.4 --min-duration 1 --cooldown 30"
  "window 10, 0.6/0.3, min 2 s, cool-down 30|--window 10 --on 0.6 --off 0.3 --min-duration 2 --cooldown 30"
  "window 5, 0.7/0.4, min 1 s, cool-down 10|--window 5 --on 0.7 --off 0.4 --min-duration 1 --cooldown 10"
  "window 5, 0.7/0.4, min 2 s, cool-down 10|--window 5 --on 0.7 --off 0.4 --min-duration 2 --cooldown 10"
  "window 10, 0.7/0.4, min 2 s, cool-down 30|--window 10 --on 0.7 --off 0.4 --min-duration 2 --cooldown 30"
  "window 10, 0.7/0.4, min 2 s, cool-down 10|--window 10 --on 0.7 --off 0.4 --min-duration 2 --cooldown 10"
  "window 10, 0.7/0.4, min 2 s, no cool-down|--window 10 --on 0.7 --off 0.4 --min-duration 2 --cooldown 0"
  "window 10, 0.7/0.4, min 3 s, cool-down 10|--window 10 --on 0.7 --off 0.4 --min-duration 3 --cooldown 10"
  "window 10, 0.8/0.5, min 2 s, cool-down 10|--window 10 --on 0.8 --off 0.5 --min-duration 2 --cooldown 10"
  "window 15, 0.7/0.4, min 2 s, cool-down 10|--window 15 --on 0.7 --off 0.4 --min-duration 2 --cooldown 10"
)
# ONLY=REGEX runs the settings whose name matches
printf '| setting | detected | mean delay (s) | worst delay (s) | false alarms | alarm time outside events (s) |\n|---|---|---|---|---|---|\n'
for s in "${SETTINGS[@]}"; do
  name=${s%%|*}
  [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]] && continue
  # shellcheck disable=SC2086
  nice -n 10 "$VIGIE" watch "$MODEL" --source "$W/v.mp4" --no-snapshots --update 0 \
    ${s#*|} --events "$W/ev.jsonl" 2>"$W/err" || { cat "$W/err"; exit 1; }
  # pair starts with ends, then score against the truth (start end class per line)
  awk -v name="$name" '
    FNR == NR { s[NR] = $1; e[NR] = $2; n = NR; next }
    /"event":"alarm_start"/ { match($0, /"pts":[0-9.]*/); st[++k] = substr($0, RSTART + 6, RLENGTH - 6) + 0 }
    /"event":"alarm_end"/ { match($0, /"pts":[0-9.]*/); en[k] = substr($0, RSTART + 6, RLENGTH - 6) + 0 }
    END {
      for (i = 1; i <= k; i++) {
        hit = 0
        for (j = 1; j <= n; j++)
          if (st[i] >= s[j] && st[i] < e[j]) { hit = j; break }
        if (hit && !seen[hit]) { seen[hit] = 1; d = st[i] - s[hit]; sum += d; if (d > worst) worst = d; det++ }
        else if (!hit) fa++
        # time the alarm was on while no event was on screen
        a = st[i]; b = (i in en) ? en[i] : st[i]
        out += b - a
        for (j = 1; j <= n; j++) { lo = a > s[j] ? a : s[j]; hi = b < e[j] ? b : e[j]; if (hi > lo) out -= hi - lo }
      }
      printf "| %s | %d / %d | %.1f | %.1f | %d | %.0f |\n", name, det, n, det ? sum / det : 0, worst, fa, out
    }' "$W/v.mp4.truth" "$W/ev.jsonl"
  rm -f "$W/ev.jsonl"
done
