#!/usr/bin/env bash
# Would more queries per document help? (issue 17 point 5, "too few queries?"; docs/results.md,
# "Document expansion on the four collections"). docTTTTTquery appended 40 or more samples
# per document; the experiment generated 3. This expands each collection with the first K of
# each document's 3 queries (query_index < K, K = 1, 2; K = 3 is expansion_eval.sh's
# "unfiltered" run), searches it with BM25 and fuses that with the zero-shot dense run, as
# scripts/expansion_eval.sh does, so the gain can be read as a function of K:
#
#   bash scripts/expansion_queries_per_doc.sh cranfield [medline cisi cacm]
#
# Needs expansion_eval.sh's outputs under $OUT/<collection> (OUT default /work/exp, DATA
# default ../shared/data). Writes queries-first-K.jsonl, expanded-first-K, runs/bm25-first-K.trec,
# runs/zero-shot+bm25-first-K.trec and per-k-vs-{bm25,rrf}.{json,txt}.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/expansion_env.sh

for collection in "$@"; do
  data="$DATA/$collection"
  work="$OUT/$collection"
  runs="$work/runs"
  evaluated=()
  for k in 1 2; do
    "$PYTHON" - "$work/queries.jsonl" "$work/queries-first-$k.jsonl" "$k" <<'PY'
import sys
from inpars.io import atomic_write_text, read_jsonl
source, output, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [line for line in open(source, encoding="utf-8")]
kept = [lines[number - 1] for number, record in read_jsonl(source) if record["query_index"] < k]
atomic_write_text(output, "".join(kept))
PY
    "$PYTHON" -m inpars.expand --corpus "$data" --queries "$work/queries-first-$k.jsonl" \
      --output "$work/expanded-first-$k" --quiet
    [ -s "$runs/bm25-first-$k.trec" ] || "$PYTHON" scripts/bm25_run.py \
      "$runs/bm25-first-$k.trec" "$work/expanded-first-$k" "$work/cache/bm25-first-$k" "$data" \
      "$THREADS"
    "$PYTHON" -m inpars.fuse "$runs/bm25-first-$k.trec" "$runs/zero-shot.trec" \
      --tag "rrf-first-$k" --output "$runs/zero-shot+bm25-first-$k.trec" --overwrite --quiet
    evaluated+=("$runs/bm25-first-$k.trec" "$runs/zero-shot+bm25-first-$k.trec")
  done
  evaluated+=("$runs/bm25-all.trec" "$runs/zero-shot+bm25-all.trec")
  for baseline in bm25 rrf; do
    "$PYTHON" -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
      --json "$work/per-k-vs-$baseline.json" --overwrite --run "$runs/$baseline.trec" \
      $(printf -- '--run %s ' "${evaluated[@]}") >"$work/per-k-vs-$baseline.txt"
  done
  echo "== $collection"
  cat "$work/per-k-vs-rrf.txt"
done
