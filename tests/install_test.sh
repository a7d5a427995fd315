#!/usr/bin/env bash
# install_test.sh — `make install PREFIX=...` into a temporary tree: the binary (it runs), the
# model with its model card, the example configuration, the systemd unit (accepted by
# `systemd-analyze verify` where the tool is present; skipped elsewhere), /etc/vigie/config.yaml
# written once and never overwritten, and `make uninstall` keeping it.
set -u
BUILD=${BUILD:-build}
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-install-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL install: $*"; }
V=(PREFIX="$T/usr" SYSCONFDIR="$T/etc" UNITDIR="$T/unit" BUILD="$BUILD")
make -s install "${V[@]}" >"$T/i.out" 2>&1 && ok || bad "make install: $(tail -3 "$T/i.out")"
for f in usr/bin/vigie usr/share/vigie/fire.vge usr/share/vigie/fire.vge.md usr/share/vigie/README.md \
  usr/share/vigie/vigie.example.yaml unit/vigie.service etc/vigie/config.yaml; do
  [ -s "$T/$f" ] && ok || bad "$f not installed"
done
"$T/usr/bin/vigie" watch --help >/dev/null 2>&1 && ok || bad "the installed binary does not run"
U=$T/unit/vigie.service
grep -q "^ExecStart=$T/usr/bin/vigie watch --config $T/etc/vigie/config.yaml$" "$U" &&
  grep -q '^Type=notify$' "$U" && grep -q '^WatchdogSec=' "$U" && grep -q '^DynamicUser=yes$' "$U" &&
  grep -q '^Restart=on-failure$' "$U" && grep -q '^ExecReload=/bin/kill -HUP $MAINPID$' "$U" &&
  ! grep -q '@[A-Z]*@' "$U" && ok || bad "unit: $(cat "$U")"
C=$T/etc/vigie/config.yaml
grep -q "^model: $T/usr/share/vigie/fire.vge$" "$C" && ! grep -q '@[A-Z]*@' "$C" && ok || bad "config: $(head -12 "$C")"
# the installed configuration is valid once its folders exist (systemd's StateDirectory= makes them)
mkdir -p "$T/state/snapshots" "$T/state/feedback"
sed -i -e "s|/var/lib/vigie|$T/state|" -e "s|/var/log/vigie|$T/state|" "$C"
"$T/usr/bin/vigie" watch --check-config "$C" >"$T/c.out" 2>&1 && grep -q 'valid: model' "$T/c.out" && ok ||
  bad "installed config: $(cat "$T/c.out")"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$U" >"$T/v.out" 2>&1 && ok || bad "systemd-analyze verify: $(cat "$T/v.out")"
else
  echo "SKIP install: systemd-analyze not installed (unit not verified)"
  skip=$((skip + 1))
fi
# a second install keeps the user's configuration; uninstall removes the rest, keeps it
echo "# mine" >>"$C"
make -s install "${V[@]}" >"$T/i2.out" 2>&1 && grep -q 'config.yaml exists: kept' "$T/i2.out" && tail -1 "$C" | grep -q '# mine' && ok ||
  bad "second install: $(cat "$T/i2.out")"
make -s uninstall "${V[@]}" >"$T/u.out" 2>&1 && [ ! -e "$T/usr/bin/vigie" ] && [ ! -e "$U" ] && [ ! -e "$T/usr/share/vigie" ] &&
  [ -s "$C" ] && ok || bad "uninstall: $(cat "$T/u.out"; find "$T" -type f)"
echo "install: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
