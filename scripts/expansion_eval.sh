#!/usr/bin/env bash
# Evaluation of the document-expansion experiment (issue 17 point 5; docs/results.md,
# "Document expansion on the four collections") for collections whose queries
# scripts/expansion_generate.sh has finished:
#
#   bash scripts/expansion_eval.sh cranfield [medline cisi cacm]
#
# For each collection, under $OUT/<collection> (OUT default /work/exp, DATA default
# ../shared/data), every step skipped or resumed when done:
#   1. BM25 (Lucene, k1 0.9, b 0.4), zero-shot dense (all-MiniLM-L6-v2) over the original
#      corpus, and their reciprocal rank fusion (k 60): one inpars.search --hybrid;
#   2. expansions with inpars.expand: unfiltered (doc2query), and Doc2Query-- with the
#      bundled bi-encoder scorer at drop fractions $FRACTIONS (default "0.3 0.5 0.7"; the
#      pairs are scored once, into the shared --scores file: the scores depend on the
#      inputs and the scorer only);
#   3. for each expansion, BM25 over it (inpars.search.bm25_rankings: the same run as
#      inpars.search --hybrid --bm25-output writes, byte for byte) and RRF(BM25 over the
#      expansion, zero-shot dense over the ORIGINAL corpus), fused from the two runs by
#      inpars.fuse (what inpars.search --hybrid --bm25-corpus does in one command); for the
#      unfiltered expansion also inpars.search --hybrid over it: dense over the expanded texts, and its
#      fusion with BM25 over the expansion (the probe's other rows; encoding costs minutes);
#   4. inpars.evaluate (nDCG@10, RR@10, R@100) three times, each run paired-t-tested against
#      BM25, then zero-shot, then RRF(BM25, zero-shot): eval-vs-{bm25,zero-shot,rrf}.json.
# Runs go to $OUT/<collection>/runs, indexes and embeddings to $OUT/<collection>/cache.
# THREADS (default 1) caps BM25 and torch threads, to leave the CPU to generation.
# A collection whose generation is not complete is skipped, or, with WAIT=1, waited for
# (checked every POLL seconds, default 60): run in the background next to the generation job,
#   WAIT=1 nohup setsid nice -n 5 bash scripts/expansion_eval.sh cranfield medline cisi cacm \
#     >>/work/exp/eval.log 2>&1 </dev/null &
# evaluates each collection as soon as its queries are complete.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/expansion_env.sh
FRACTIONS=${FRACTIONS:-0.3 0.5 0.7}

bm25_run() {  # bm25_run OUTPUT CORPUS INDEX DATA: BM25's top 1000 for DATA's judged queries
  "$PYTHON" scripts/bm25_run.py "$@" "$THREADS"
}

fuse() {  # fuse OUTPUT TAG RUN...: reciprocal rank fusion (k 60) of TREC runs, top 1000
  local output=$1 tag=$2
  shift 2
  "$PYTHON" -m inpars.fuse "$@" --tag "$tag" --output "$output" --overwrite --quiet
}

expansion_runs() {  # expansion_runs NAME: BM25 over expanded-NAME, and its RRF with zero-shot
  [ -s "$runs/bm25-$1.trec" ] || \
    bm25_run "$runs/bm25-$1.trec" "$work/expanded-$1" "$cache/bm25-$1" "$data"
  fuse "$runs/zero-shot+bm25-$1.trec" "rrf-$1" "$runs/bm25-$1.trec" "$runs/zero-shot.trec"
  evaluated+=("$runs/bm25-$1.trec" "$runs/zero-shot+bm25-$1.trec")
}

evaluate_all() {  # every run in $evaluated, against each baseline (eval-vs-*.{json,txt})
  local baseline run args
  for baseline in bm25 zero-shot rrf; do
    args=(--run "$runs/$baseline.trec")
    for run in "${evaluated[@]}"; do
      [ "$run" = "$runs/$baseline.trec" ] || args+=(--run "$run")
    done
    "$PYTHON" -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
      --json "$work/eval-vs-$baseline.json" --per-query "$work/per-query-vs-$baseline.tsv" --overwrite \
      "${args[@]}" >"$work/eval-vs-$baseline.txt"
  done
  echo "-- $collection evaluated $(date -u +%H:%M:%S): ${#evaluated[@]} runs"
}

for collection in "$@"; do
  data="$DATA/$collection"
  work="$OUT/$collection"
  queries="$work/queries.jsonl"
  runs="$work/runs"
  cache="$work/cache"
  while [ "${WAIT:-0}" = 1 ] && ! grep -q '"status": "complete"' "$queries.manifest.json" 2>/dev/null; do
    sleep "${POLL:-60}"
  done
  if ! grep -q '"status": "complete"' "$queries.manifest.json" 2>/dev/null; then
    echo "$collection: generation not complete ($queries.manifest.json); skipped" >&2
    continue
  fi
  echo "== $collection $(date -u +%H:%M:%S)"
  mkdir -p "$runs" "$cache"
  search=("$PYTHON" -m inpars.search --queries "$data" --qrels "$data" --k 1000
          --threads "$THREADS" --quiet)
  [ -s "$runs/rrf.trec" ] || "${search[@]}" --corpus "$data" --hybrid \
    --bm25-index "$cache/bm25-original" --embeddings "$cache/dense-original" \
    --output "$runs/rrf.trec" --dense-output "$runs/zero-shot.trec" --bm25-output "$runs/bm25.trec"

  evaluated=("$runs/bm25.trec" "$runs/zero-shot.trec" "$runs/rrf.trec")
  expand=("$PYTHON" -m inpars.expand --corpus "$data" --queries "$queries" --quiet)
  # The unfiltered expansion first and evaluated at once (seconds), then Doc2Query-- (the
  # bi-encoder scores every pair: minutes), then dense over the expanded texts (minutes).
  "${expand[@]}" --output "$work/expanded-all"
  expansion_runs all
  evaluate_all
  for fraction in $FRACTIONS; do
    name="d2q-${fraction#0.}0"
    name="${name:0:6}"
    # One scores file for every fraction: the pairs are scored once.
    "${expand[@]}" --output "$work/expanded-$name" --drop-fraction "$fraction" \
      --scores "$work/pair-scores.jsonl"
    expansion_runs "$name"
  done
  evaluate_all
  [ -s "$runs/dense-expanded-all+bm25-all.trec" ] || "${search[@]}" \
    --corpus "$work/expanded-all" --hybrid \
    --bm25-index "$cache/bm25-all" --embeddings "$cache/dense-all" \
    --output "$runs/dense-expanded-all+bm25-all.trec" --dense-output "$runs/dense-expanded-all.trec"
  evaluated+=("$runs/dense-expanded-all.trec" "$runs/dense-expanded-all+bm25-all.trec")
  evaluate_all
  cat "$work/eval-vs-rrf.txt"
done
