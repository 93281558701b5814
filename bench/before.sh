#!/bin/sh
# Builds this package as it was at a git ref (default HEAD) into .tmp/bench-before, so the
# `ours-before` implementation can run beside the working tree: before/after in the same run.
set -e
ref=${1:-HEAD}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.tmp/bench-before"
git -C "$root" worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"
git -C "$root" worktree prune
git -C "$root" worktree add --detach "$dir" "$ref" >/dev/null
ln -s "$root/node_modules" "$dir/node_modules"
(cd "$dir" && "$root/node_modules/.bin/tsc" -p tsconfig.build.json)
echo "bench: built $(git -C "$dir" rev-parse --short HEAD) in $dir; run with --impl ours-before,ours,..."
