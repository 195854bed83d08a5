#!/bin/bash
# CPU microseconds per redis-benchmark request in each process of an FT cluster (the
# launcher with its virtual switch, the primary, the backup, the warm spare), and the
# requests/s: `tools/bench/cpu-per-request.sh [DIR] [PIPELINE] [REQUESTS] [TEST]`
# (defaults: this checkout, 1, 20000, set). CPU time comes from /proc (utime + stime, in
# clock ticks of 10 ms), read before and after the benchmark, so other load on the machine
# moves it far less than it moves requests/s: on a busy 2-core machine it is the figure to
# compare between two versions (run them back to back, and more than once). Linux only;
# needs redis-benchmark (Debian's redis-tools).
set -u
DIR=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
P=${2:-1}
N=${3:-20000}
T=${4:-set}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PAIRED_WAIT_TRIES=600   # 0.2 s each: a loaded machine takes tens of seconds to start a pair
cd "$DIR" || exit 2
PORT=$((20000 + RANDOM % 20000))
node --import tsx src/cli/main.ts ft programs/redis.s --mem 16MiB --listen 127.0.0.1:$PORT > "$OUT/ft.log" 2>&1 &
L=$!
for _ in $(seq $PAIRED_WAIT_TRIES); do grep -q 'backup of epoch\|paired with the primary' "$OUT/ft.log" && break; sleep 0.2; done
sleep 3   # the warm spare starts after the pair forms
ticks() { for p in $PIDS; do awk -v p=$p '{print p, $14 + $15}' /proc/$p/stat 2>/dev/null; done; }
PIDS="$L $(pgrep -P $L | tr '\n' ' ')"
ticks > "$OUT/before"
S=$(date +%s.%N)
redis-benchmark -p $PORT -t "$T" -n "$N" -c 20 -P "$P" -q --csv > "$OUT/rb" 2>&1
E=$(date +%s.%N)
ticks > "$OUT/after"
echo "load $(cut -d' ' -f1-3 /proc/loadavg); $(awk -v s=$S -v e=$E 'BEGIN{printf "%.1f", e - s}') s; redis-benchmark: $(tail -1 "$OUT/rb")"
join "$OUT/before" "$OUT/after" | while read -r p a b; do
  role=$(ps -o args= -p "$p" | grep -o 'main.ts [a-z]*\( --join-stdin\)\?' | sed 's/main.ts //')
  [ "$role" = arbiter ] && continue
  echo "  ${role:-?} (pid $p): $(awk -v a=$a -v b=$b -v n=$N 'BEGIN{printf "%.1f", (b - a) * 10000 / n}') us per request"
done
kill -INT $L; sleep 2; kill $L 2>/dev/null; wait $L 2>/dev/null
