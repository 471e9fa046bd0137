#!/usr/bin/env bash
# `caviard redact --threads 1` against `--threads 2`, in back-to-back pairs, each pair followed by
# a control: the same pure-CPU work run once, then twice in parallel (Python multiprocessing).
# On a shared VM the control says how many cores the machine really gave at that moment, so a
# low caviard ratio next to a low control ratio is the machine, not caviard.
#
# usage: benches/threads.sh [FILE] [PAIRS] [BINARY]
#   FILE    default ../shared/corpus/bench/mixed.log
#   PAIRS   default 12
#   BINARY  default target/release/caviard (build it first: cargo build --release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
file=${1:-../shared/corpus/bench/mixed.log}
pairs=${2:-12}
bin=${3:-target/release/caviard}
if [[ ! -f $file ]]; then
  echo "SKIP: $file not found (the corpus is only in the development workspace); pass a file"
  exit 0
fi
ms() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
control() {
  python3 - <<'PY'
import time, multiprocessing as mp
def burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
if __name__ == "__main__":
    n = 3_000_000
    t = time.time(); burn(n); one = time.time() - t
    with mp.Pool(2) as p:
        t = time.time(); p.map(burn, [n, n]); two = time.time() - t
    print(f"{2 * one / two:.2f}")
PY
}
for _ in $(seq "$pairs"); do
  echo "$(ms "$bin" redact --threads 1 "$file") $(ms "$bin" redact --threads 2 "$file") $(control)"
done | python3 -c '
import sys, statistics as st
rows = [l.split() for l in sys.stdin]
one = [int(r[0]) for r in rows]; two = [int(r[1]) for r in rows]; ctl = [float(r[2]) for r in rows]
ratios = [a / b for a, b in zip(one, two)]
print(f"{len(rows)} pairs: --threads 1 best {min(one)} ms, --threads 2 best {min(two)} ms; "
      f"median of pair ratios {st.median(ratios):.2f}x, ratio of best runs {min(one) / min(two):.2f}x; "
      f"control (2 processes / 1) median {st.median(ctl):.2f}x")
'
