#!/usr/bin/env bash
# The last row of the document-expansion experiment (issue 17 point 5; docs/results.md,
# "Document expansion on the four collections"): a reranker trained on the collection's
# synthetic queries, reranking the best first stage. Run after scripts/expansion_eval.sh:
#
#   bash scripts/expansion_rerank.sh cranfield [medline cisi cacm]
#
# For each collection, under $OUT/<collection> (OUT default /work/exp, DATA default
# ../shared/data), each step skipped when its output is complete with the same settings:
#   1. the best first stage of expansion_eval.sh's runs, chosen as the pipeline's --expand
#      chooses (inpars.pipeline_expand): the highest R@$DEPTH on the judged queries (what
#      bounds a reranker), ties to the higher nDCG@10;
#   2. the InPars-v2 filter: inpars.filter's cleaning rules, then the $KEEP (default 1000)
#      queries the zero-shot bi-encoder scores highest with their own document
#      (--reranker all-minilm-l6-v2);
#   3. inpars.triples: one BM25 negative per query (top 100 of the original corpus);
#   4. inpars.train: the bi-encoder (all-MiniLM-L6-v2, MultipleNegativesRankingLoss; inpars.train's
#      defaults: batch 64 triples, one epoch, learning rate 2e-5; the pipeline's best kind);
#   5. inpars.rerank --run: the trained model, and the zero-shot bi-encoder it started from,
#      reranking the first stage's top $DEPTH (default 100);
#   6. inpars.fuse: the trained run fused (RRF, k 60) with the first stage's BM25 run (over the
#      expansion, or the original corpus): the trained model in the zero-shot model's place;
#   7. inpars.evaluate: the first stage, the reranked runs and the fusion, each against BM25,
#      zero-shot and RRF(BM25, zero-shot): rerank-vs-{bm25,zero-shot,rrf}.{json,txt}.
# THREADS (default 1) caps torch's and BM25's threads, to leave the CPU to generation.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/expansion_env.sh
KEEP=${KEEP:-1000}
DEPTH=${DEPTH:-100}

best_first_stage() {  # best_first_stage EVAL_JSON DEPTH: the path of the run with the best R@DEPTH
  "$PYTHON" - "$@" <<'EOF'
import json, sys
evaluation, depth = sys.argv[1], sys.argv[2]
runs = json.load(open(evaluation, encoding="utf-8"))["runs"]
recall = f"R@{depth}"
if any(recall not in run["means"] for run in runs):
    sys.exit(f"{evaluation}: no {recall} (evaluate with --measures ... {recall})")
# Fused runs of a dense model over the expanded texts are not first stages the pipeline offers.
candidates = [run for run in runs if "dense-expanded" not in run["label"]]
best = max(candidates, key=lambda run: (run["means"][recall], run["means"]["nDCG@10"]))
print(best["path"])
EOF
}

for collection in "$@"; do
  data="$DATA/$collection"
  work="$OUT/$collection"
  runs="$work/runs"
  train="$work/trained"
  if [ ! -s "$work/eval-vs-rrf.json" ]; then
    echo "$collection: no $work/eval-vs-rrf.json (run scripts/expansion_eval.sh first); skipped" >&2
    continue
  fi
  echo "== $collection $(date -u +%H:%M:%S)"
  mkdir -p "$train"
  first=$(best_first_stage "$work/eval-vs-rrf.json" "$DEPTH")
  name=$(basename "$first" .trec)
  echo "first stage: $name"
  "$PYTHON" -m inpars.filter --input "$work/queries.jsonl" --corpus "$data" \
    --reranker all-minilm-l6-v2 --keep-top-k "$KEEP" --output "$train/filtered-$KEEP.jsonl" \
    --summary "$train/filtered-$KEEP.summary.json" --quiet
  "$PYTHON" -m inpars.triples --queries "$train/filtered-$KEEP.jsonl" --corpus "$data" \
    --depth 100 --threads "$THREADS" --index "$work/cache/bm25-triples" \
    --output "$train/triples-$KEEP.tsv" --quiet
  "$PYTHON" -m inpars.train --kind bi-encoder --triples "$train/triples-$KEEP.tsv" \
    --output "$train/bi-encoder-$KEEP" --quiet
  for model in trained zero-shot; do
    path="$train/bi-encoder-$KEEP"
    [ "$model" = trained ] || path=all-minilm-l6-v2
    "$PYTHON" -m inpars.rerank --queries "$data" --qrels "$data" --corpus "$data" \
      --kind bi-encoder --model "$path" --run "$first" --depth "$DEPTH" \
      --output "$runs/$model-over-$name.trec" --quiet
  done
  # The trained model in the zero-shot one's place: fused with the first stage's BM25 run.
  bm25=bm25
  case "$name" in zero-shot+bm25-*) bm25="bm25-${name#zero-shot+bm25-}" ;; esac
  "$PYTHON" -m inpars.fuse "$runs/$bm25.trec" "$runs/trained-over-$name.trec" \
    --tag "trained+$bm25" --output "$runs/trained-over-$name+$bm25.trec" --quiet
  evaluated=("$runs/bm25.trec" "$runs/zero-shot.trec" "$runs/rrf.trec" "$first"
             "$runs/zero-shot-over-$name.trec" "$runs/trained-over-$name.trec"
             "$runs/trained-over-$name+$bm25.trec")
  for baseline in bm25 zero-shot rrf; do
    args=(--run "$runs/$baseline.trec")
    for run in "${evaluated[@]}"; do  # every run once, the baseline first
      [[ " ${args[*]} " == *" $run "* ]] || args+=(--run "$run")
    done
    "$PYTHON" -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
      --json "$work/rerank-vs-$baseline.json" --overwrite "${args[@]}" \
      >"$work/rerank-vs-$baseline.txt"
  done
  echo "-- $collection reranked $(date -u +%H:%M:%S)"
  cat "$work/rerank-vs-rrf.txt"
done
