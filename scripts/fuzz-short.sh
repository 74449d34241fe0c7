#!/usr/bin/env bash
# make fuzz-short (and the end of make test): every fuzz target in the module
# (header views, arp/fdb/routing/policy parsers, the router, NAT and the whole
# pipeline, dataplane FuzzPipeline) for FUZZTIME each (default 3s). With 15
# targets and the instrumented builds that is about 70-100 s; FUZZ_BUDGET
# (default 150) fails the run when the whole takes longer, so a new target
# makes someone shorten FUZZTIME rather than slow CI unnoticed.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-3s}
budget=${FUZZ_BUDGET:-150}
start=$SECONDS
n=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    s=$SECONDS
    if ! out=$(go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" 2>&1); then
      echo "$out" | tail -40
      echo "fuzz-short: $pkg $f FAILED (the failing input is under $dir/testdata/fuzz/$f)" >&2
      exit 1
    fi
    n=$((n + 1))
    echo "fuzz-short: $pkg $f ok ($((SECONDS - s)) s)"
  done
done
total=$((SECONDS - start))
echo "fuzz-short: $n targets, $total s"
if [ "$total" -gt "$budget" ]; then
  echo "fuzz-short: took $total s, over the $budget s budget: lower FUZZTIME" >&2
  exit 1
fi
