#!/usr/bin/env bash
# Generation for the document-expansion experiment (issue 17 point 5, docs/results.md,
# "Document expansion on the four collections"): 3 queries for EVERY document of each
# collection, one collection after the other, with the settings of the Cranfield probe
# (bundled SmolLM2 via the hf engine, `inpars` template, temperature 0.7, top-p 0.95,
# seed 1, bfloat16, documents cut to 200 tokens).
#
#   DATA=/work/shared/data PYTHON=/work/main/.venv/bin/python \
#     nohup setsid nice -n 5 bash scripts/expansion_generate.sh >/work/exp/driver.out 2>&1 </dev/null &
#
# Rerunning the same command resumes: inpars.generate keeps the documents already on disk.
# OUT (default /work/exp), DATA (default ../shared/data) and COLLECTIONS (default
# "cranfield medline cisi cacm") choose the folders. Each collection writes
# $OUT/<collection>/queries.jsonl (+ .manifest.json) and logs to $OUT/<collection>.log,
# with a "start"/"end" UTC timestamp line around every invocation. THREADS (default 1) is
# torch's thread count: on a machine shared with other jobs, 1 thread did ~4x more queries per
# CPU second than 2 (two OpenMP threads spin while the other one waits for a core).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/expansion_env.sh
mkdir -p "$OUT"
for collection in ${COLLECTIONS:-cranfield medline cisi cacm}; do
  mkdir -p "$OUT/$collection"
  log="$OUT/$collection.log"
  echo "start $(date -u +%Y-%m-%dT%H:%M:%SZ) $collection" >>"$log"
  "$PYTHON" -m inpars.generate --corpus "$DATA/$collection" \
    --output "$OUT/$collection/queries.jsonl" \
    --engine hf --prompt inpars --num-queries-per-doc 3 \
    --temperature 0.7 --top-p 0.95 --seed 1 --dtype bfloat16 --max-doc-tokens 200 \
    --threads "$THREADS" --quiet >>"$log" 2>&1
  status=$?
  echo "end $(date -u +%Y-%m-%dT%H:%M:%SZ) $collection exit=$status" >>"$log"
  if [ "$status" -ne 0 ]; then
    echo "generation for $collection failed (exit $status); see $log" >&2
    exit "$status"
  fi
done
