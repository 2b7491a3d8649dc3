#!/usr/bin/env bash
# Mutation testing of the protocol core: the stream deframer, the server's router, the
# client's host, the client state machine, and fragments (reassembly, path MTU and source
# fragmentation), against the sim crate's own tests (its unit
# and property tests: `cargo test -p iphttps-sim --lib`), which are the tests written for
# those files and run in seconds. CI does not run this (a full run, 335 mutants, took 43
# minutes on 2 cores); rerun it, and update the README's figures, whenever these files
# change.
#
#   scripts/mutants.sh            every mutant, one job
#   scripts/mutants.sh 3/6        shard 3 of 6 (a sixth of the mutants, about 7 minutes,
#                                 plus the shard's own baseline build, 2 to 4 minutes)
#   scripts/mutants.sh 3/6 FILE   one file's mutants only (-f FILE), sharded
#   ITERATE=1 scripts/mutants.sh  only the mutants the last run did not catch (after new tests)
#
# The results land in target/mutants/<shard>/mutants.out/ (caught.txt, missed.txt,
# unviable.txt, timeout.txt); a summary per file is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null 2>&1 || cargo install cargo-mutants --locked

shard="${1:-}"
files=(sim/src/wire/deframe.rs sim/src/link/router.rs sim/src/link/host.rs sim/src/client_state/machine.rs sim/src/link/reassembly.rs sim/src/link/path.rs sim/src/wire/frag.rs)
if [ -n "${2:-}" ]; then files=("$2"); fi

out="target/mutants/${shard//\//-of-}"
out="${out%/}"
args=(-p iphttps-sim --timeout 30 --output "$out")
for f in "${files[@]}"; do args+=(-f "$f"); done
if [ -n "$shard" ]; then args+=(--shard "$shard"); fi
if [ -n "${ITERATE:-}" ]; then args+=(--iterate); fi

status=0
cargo mutants "${args[@]}" -- --lib || status=$?

# caught / missed / unviable / timeouts, per file
dir="$out/mutants.out"
printf '%-36s %7s %7s %9s %9s\n' file caught missed unviable timeouts
for f in "${files[@]}"; do
  count() { grep -c "^$f:" "$dir/$1.txt" 2>/dev/null || true; }
  printf '%-36s %7s %7s %9s %9s\n' "$f" "$(count caught)" "$(count missed)" "$(count unviable)" "$(count timeout)"
done
echo "missed mutants: $dir/missed.txt"
# cargo-mutants exits 2 when some mutants were missed, 3 on timeouts: report, not fail
[ "$status" -le 3 ] || exit "$status"
