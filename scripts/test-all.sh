#!/usr/bin/env bash
# npm test: type-check, unit and integration tests, build, then the E2E tests in
# Chromium. Prints one summary line: "total: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
mkdir -p test-results
fail=0
echo "== typecheck"; npm run -s typecheck || fail=1
echo "== electron-builder config"; npm run -s check:builder || fail=1
echo "== unit and integration tests"
npm run -s test:unit 2>&1 | tee test-results/unit.tap; unit_rc=${PIPESTATUS[0]}
echo "== build"; npm run -s build || fail=1
echo "== e2e"
if [ -x "$CHROMIUM_PATH" ]; then npm run -s test:e2e; e2e_rc=$?; else echo "no Chromium at $CHROMIUM_PATH (apt-get install -y chromium)"; e2e_rc=1; fi
up=$(awk '/^# pass /{print $3}' test-results/unit.tap | tail -1)
uf=$(awk '/^# fail /{print $3}' test-results/unit.tap | tail -1)
us=$(awk '/^# (skipped|todo) /{s+=$3} END{print s+0}' test-results/unit.tap)
read -r ep ef es < <(node -e "try{const s=require('./test-results/e2e.json').stats;console.log(s.expected+s.flaky,s.unexpected,s.skipped)}catch{console.log(0,1,0)}")
passed=$(( ${up:-0} + ep )); failed=$(( ${uf:-1} + ef )); skipped=$(( us + es ))
echo "total: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$fail" -eq 0 ] && [ "$unit_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
