#!/usr/bin/env bash
# Dense retrievers from the pipeline's synthetic queries, on several BEIR folders: BM25, the
# zero-shot bi-encoder (and its BM25 fusion), GenQ and GPL, each a full retrieval run,
# evaluated with significance against the zero-shot bi-encoder. Each step resumes or is
# skipped when done.
#
#   bash scripts/pipeline.sh       # first: the synthetic queries (RUNS/<collection>/filtered.jsonl)
#   bash scripts/dense.sh
#
# DATA (default ../shared/data), COLLECTIONS (default "cranfield cisi medline cacm") and RUNS
# (default runs) as for scripts/pipeline.sh; the pipeline's work folder RUNS/<collection>
# must hold filtered.jsonl. MODEL (default all-minilm-l6-v2) is the zero-shot model and the
# starting point of GenQ and GPL. The GPL teacher is TEACHER (a folder relative to the work
# folder, e.g. cross-encoder/reranker, or any model name; default MODEL) fused with BM25 at
# weight TEACHER_BM25_WEIGHT (default 0.5; 0 for the teacher alone). Everything this script
# writes goes to RUNS/<collection>/dense. TRAIN_ARGS go to both trainings, GPL_ARGS to GPL's
# only (e.g. GPL_ARGS="--max-steps 100 --max-length 128" on a CPU, TRAIN_ARGS="--device cuda").
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-runs}
MODEL=${MODEL:-all-minilm-l6-v2}
TEACHER=${TEACHER:-$MODEL}
TEACHER_BM25_WEIGHT=${TEACHER_BM25_WEIGHT:-0.5}
read -r -a train_args <<< "${TRAIN_ARGS:-}"
read -r -a gpl_args <<< "${GPL_ARGS:-}"
for collection in ${COLLECTIONS:-cranfield cisi medline cacm}; do
  echo "== $collection"
  data="$DATA/$collection"
  work="$RUNS/$collection"
  out="$work/dense"
  teacher=$TEACHER
  [[ -e "$work/$TEACHER" ]] && teacher="$work/$TEACHER"
  mkdir -p "$out"
  search=(python -m inpars.search --queries "$data" --corpus "$data" --qrels "$data"
          --k 1000 --bm25-index "$out/bm25-index" --quiet)
  # BM25, zero-shot and their fusion in one pass.
  "${search[@]}" --model "$MODEL" --hybrid --output "$out/zero-shot+bm25.trec" \
    --dense-output "$out/zero-shot.trec" --bm25-output "$out/bm25.trec"
  # GenQ: (query, document) pairs, in-batch negatives.
  python -m inpars.dense genq --queries "$work/filtered.jsonl" --corpus "$data" \
    --model "$MODEL" --output "$out/genq" --quiet "${train_args[@]}"
  "${search[@]}" --model "$out/genq" --output "$out/genq.trec"
  # GPL: negatives from the zero-shot model and BM25, margins from the teacher.
  python -m inpars.dense gpl-label --queries "$work/filtered.jsonl" --corpus "$data" \
    --teacher "$teacher" --teacher-bm25-weight "$TEACHER_BM25_WEIGHT" \
    --retriever "$MODEL" --retriever bm25 \
    --negatives-per-retriever 10 --index "$out/bm25-index" \
    --output "$out/gpl-labels.jsonl" --quiet
  python -m inpars.dense gpl-train --labels "$out/gpl-labels.jsonl" --corpus "$data" \
    --model "$MODEL" --output "$out/gpl" --quiet "${train_args[@]}" "${gpl_args[@]}"
  "${search[@]}" --model "$out/gpl" --output "$out/gpl.trec"
  python -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
    --exclude-queries "$work/queries.jsonl" --json "$out/results.json" \
    --per-query "$out/per-query.tsv" \
    --run "$out/zero-shot.trec" --run "$out/bm25.trec" --run "$out/zero-shot+bm25.trec" \
    --run "$out/genq.trec" --run "$out/gpl.trec"
done
