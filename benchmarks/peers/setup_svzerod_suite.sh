#!/usr/bin/env bash
# svZeroDSolver's own test suite (tests/: test_solver.py, utils.py, cases/, cases/results/) for
# benchmarks/peers/svzerod_suite.py. Usage: benchmarks/peers/setup_svzerod_suite.sh [DEST] [MIRROR]
#   DEST    where the snapshot goes (default benchmarks/peers/_svzerod_repo, ignored by git; never commit it)
#   MIRROR  a local bare git mirror of SimVascular/svZeroDSolver (default $SVZEROD_MIRROR, else
#           /work/.mirror/SimVascular+svZeroDSolver/repo when present); without one it clones from GitHub (--depth 1).
# The commit taken is written to DEST/COMMIT (hash and commit date) and printed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="${1:-$HERE/_svzerod_repo}"
MIRROR="${2:-${SVZEROD_MIRROR:-/work/.mirror/SimVascular+svZeroDSolver/repo}}"
URL="https://github.com/SimVascular/svZeroDSolver"
rm -rf "$DEST"
mkdir -p "$DEST"
if [ -d "$MIRROR" ] && git -C "$MIRROR" rev-parse --verify -q HEAD >/dev/null; then
    git -C "$MIRROR" archive HEAD tests/ | tar -x -C "$DEST"
    COMMIT="$(git -C "$MIRROR" log -1 --format='%H %cI' HEAD)"
    SOURCE="$MIRROR"
else
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    git clone -q --depth 1 "$URL" "$TMP/repo"
    cp -r "$TMP/repo/tests" "$DEST/"
    COMMIT="$(git -C "$TMP/repo" log -1 --format='%H %cI' HEAD)"
    SOURCE="$URL"
fi
printf '%s %s\n' "$COMMIT" "$SOURCE" > "$DEST/COMMIT"
echo "svZeroDSolver tests/ at $COMMIT (from $SOURCE) in $DEST: $(ls "$DEST/tests/cases"/*.json | wc -l) case files"
