#!/usr/bin/env bash
# Dense retrievers from the pipeline's synthetic queries, on several BEIR folders: BM25, the
# zero-shot bi-encoder (and its BM25 fusion), GenQ and GPL, each a full retrieval run,
# evaluated with significance against the zero-shot bi-encoder. Each step resumes or is
# skipped when done.
#
#   bash scripts/pipeline.sh --kind cross-encoder     # first: queries, triples, the teacher
#   bash scripts/dense.sh
#
# DATA (default ../shared/data), COLLECTIONS (default "cranfield cisi medline cacm") and RUNS
# (default runs) as for scripts/pipeline.sh; the pipeline's work folder RUNS/<collection>
# must hold filtered.jsonl and the teacher, TEACHER (default cross-encoder/reranker, relative
# to it). MODEL (default all-minilm-l6-v2) is the zero-shot model and the starting point of
# GenQ and GPL. Everything this script writes goes to RUNS/<collection>/dense. Extra
# arguments go to every training command (e.g. --device cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-runs}
MODEL=${MODEL:-all-minilm-l6-v2}
TEACHER=${TEACHER:-cross-encoder/reranker}
for collection in ${COLLECTIONS:-cranfield cisi medline cacm}; do
  echo "== $collection"
  data="$DATA/$collection"
  work="$RUNS/$collection"
  out="$work/dense"
  mkdir -p "$out"
  search=(python -m inpars.search --queries "$data" --corpus "$data" --qrels "$data"
          --k 1000 --bm25-index "$out/bm25-index" --quiet)
  # BM25, zero-shot and their fusion in one pass.
  "${search[@]}" --model "$MODEL" --hybrid --output "$out/zero-shot+bm25.trec" \
    --dense-output "$out/zero-shot.trec" --bm25-output "$out/bm25.trec"
  # GenQ: (query, document) pairs, in-batch negatives.
  python -m inpars.dense genq --queries "$work/filtered.jsonl" --corpus "$data" \
    --model "$MODEL" --output "$out/genq" --quiet "$@"
  "${search[@]}" --model "$out/genq" --output "$out/genq.trec"
  # GPL: negatives from the zero-shot model and BM25, margins from the teacher.
  python -m inpars.dense gpl-label --queries "$work/filtered.jsonl" --corpus "$data" \
    --teacher "$work/$TEACHER" --retriever "$MODEL" --retriever bm25 \
    --negatives-per-retriever 10 --index "$out/bm25-index" \
    --output "$out/gpl-labels.jsonl" --quiet
  python -m inpars.dense gpl-train --labels "$out/gpl-labels.jsonl" --corpus "$data" \
    --model "$MODEL" --output "$out/gpl" --quiet "$@"
  "${search[@]}" --model "$out/gpl" --output "$out/gpl.trec"
  python -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
    --exclude-queries "$work/queries.jsonl" --json "$out/results.json" \
    --per-query "$out/per-query.tsv" \
    --run "$out/zero-shot.trec" --run "$out/bm25.trec" --run "$out/zero-shot+bm25.trec" \
    --run "$out/genq.trec" --run "$out/gpl.trec"
done
