#!/bin/bash
# layers_test.sh — the layers of src/ depend one way (docs/ARCHITECTURE.md):
#     core -> ops -> cpu -> model -> io -> {compress, train} -> optimize -> watch -> cli
# a layer uses only the layers before it (compress and train are siblings: neither uses the
# other). Checked twice, so that a declaration borrowed through vigie.h cannot hide a use:
#   1. every #include "dir/file.h" of src/ against the order;
#   2. every undefined symbol of an object file of BUILD/src/ against the layer of the object
#      that defines it (nm), i.e. the calls and data the linker will really resolve.
# And cli/ includes vigie.h and its own headers only (the Makefile also compiles it without
# -Isrc, so an internal header would not even be found).
# usage: BUILD=build bash tests/layers_test.sh   (after make: needs the object files)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
fail=0
bad() { echo "FAIL layers: $*"; fail=$((fail + 1)); }

rank() {
  case $1 in
    core) echo 0 ;; ops) echo 1 ;; cpu) echo 2 ;; model) echo 3 ;; io) echo 4 ;;
    compress | train) echo 5 ;; optimize) echo 6 ;; watch) echo 7 ;; *) echo 99 ;;
  esac
}
# may layer $1 use layer $2?
may_use() {
  local a b
  a=$(rank "$1") b=$(rank "$2")
  [ "$1" = "$2" ] || { [ "$b" -lt "$a" ] && [ "$a" != 99 ]; }
}

# every directory of src/ has a rank (a new one must be placed in the order first)
for d in src/*/; do
  d=$(basename "$d")
  [ "$(rank "$d")" != 99 ] || bad "src/$d is not in the layer order (add it here and to ARCHITECTURE.md)"
done

# 1. includes
n_inc=0
for f in src/*/*.[ch]; do
  l=$(basename "$(dirname "$f")")
  while IFS= read -r inc; do
    n_inc=$((n_inc + 1))
    case $inc in
      vigie.h) continue ;;
      */*) t=${inc%%/*} ;;
      *) t=$l ;;
    esac
    may_use "$l" "$t" || bad "$f includes \"$inc\": layer $l may not use $t"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

# 2. symbols
# the objects of today's sources (a build directory may still hold those of moved files)
objs=
for f in src/*/*.c; do
  o=$BUILD/${f%.c}.o
  if [ -f "$o" ]; then objs="$objs $o"; else bad "$o not built: run make first"; fi
done
if [ -n "$objs" ]; then
  defs=$(mktemp)
  trap 'rm -f "$defs"' EXIT
  for o in $objs; do
    l=$(basename "$(dirname "$o")")
    nm --defined-only -g "$o" | awk -v l="$l" -v o="$o" 'NF == 3 { print $3, l, o }'
  done | sort -k1,1 >"$defs"
  n_sym=0
  for o in $objs; do
    l=$(basename "$(dirname "$o")")
    while read -r s t where; do
      n_sym=$((n_sym + 1))
      may_use "$l" "$t" || bad "$o uses $s from $where: layer $l may not use $t"
    done < <(nm -u "$o" | awk '{ print $NF }' | sort -u | join - "$defs")
  done
fi

# 3. cli/: the public header only
for f in cli/*.[ch]; do
  n=$(grep -c '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z]*/' "$f")
  [ "$n" = 0 ] || bad "$f includes $n internal header(s): cli/ uses vigie.h only"
done

echo "layers: ${n_inc} includes, ${n_sym:-0} resolved symbol uses checked, $fail failed"
[ $fail = 0 ]
