#!/usr/bin/env bash
# Per-passage expansion (issue 17 point 1; docs/results.md, "Document expansion on the four
# collections"): does an expansion that speaks for the whole document beat one generated from
# its first 200 tokens? For each collection whose first-200-token queries
# (scripts/expansion_generate.sh) are complete, under $OUT/<collection>:
#   1. passages.jsonl: every window after the first of each document, as inpars.generate
#      --passage-tokens 200 cuts it (inpars.passages: windows of 200 SmolLM2 tokens, stride 200),
#      one record per window with id "<doc>#p<i>": the windows the first-200-token run left out;
#   2. passage-queries.jsonl: 3 queries per window with expansion_generate.sh's settings
#      (resumable; the window is shorter than --max-doc-tokens, so it reaches the prompt whole);
#   3. queries-passages.jsonl: the first-200-token queries plus these, renamed back to their
#      document (passage_index i): what --passage-tokens 200 generates, except that the first
#      window's queries are the existing ones (the same text; other seeds, whose draws are
#      independent of the later windows' either way);
#   4. expanded-passages (unfiltered), BM25 over it and its RRF with zero-shot dense, evaluated
#      against the first-200-token expansion's runs (expansion_eval.sh makes those first).
# Generating only the missing windows costs a third to a half of regenerating every window.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/expansion_env.sh

for collection in "$@"; do
  data="$DATA/$collection"
  work="$OUT/$collection"
  runs="$work/runs"
  echo "== $collection passages $(date -u +%H:%M:%S)"
  if [ ! -s "$work/passages.jsonl" ]; then
    "$PYTHON" - "$data" "$work/passages.jsonl" <<'PY'
import json, sys
from transformers import AutoTokenizer
from inpars.corpus import read_corpus
from inpars.io import atomic_write_text
from inpars.models import model_folder, resolve_model
from inpars.passages import PassageSettings
from inpars.prompts import normalize_text
data, output = sys.argv[1:]
tokenizer = AutoTokenizer.from_pretrained(model_folder(resolve_model("smollm2-135m")))
settings = PassageSettings(200, 200)
lines = []
for doc in read_corpus(data):
    windows, _ = settings.split(normalize_text(doc.contents), tokenizer)
    for window in windows[1:]:
        lines.append(json.dumps({"_id": f"{doc.id}#p{window.index}", "title": "",
                                 "text": window.text}) + "\n")
atomic_write_text(output, "".join(lines))
print(f"{len(lines)} windows after the first", file=sys.stderr)
PY
  fi
  "$PYTHON" -m inpars.generate --corpus "$work/passages.jsonl" \
    --output "$work/passage-queries.jsonl" \
    --engine hf --prompt inpars --num-queries-per-doc 3 \
    --temperature 0.7 --top-p 0.95 --seed 1 --dtype bfloat16 --max-doc-tokens 256 \
    --threads "$THREADS" --quiet
  "$PYTHON" - "$work/queries.jsonl" "$work/passage-queries.jsonl" "$work/queries-passages.jsonl" <<'PY'
import json, sys
from inpars.io import atomic_write_text, read_jsonl
first, later, output = sys.argv[1:]
lines = [json.dumps(r) + "\n" for _, r in read_jsonl(first)]
for _, record in read_jsonl(later):
    doc_id, _, index = record["doc_id"].rpartition("#p")
    lines.append(json.dumps({**record, "doc_id": doc_id, "passage_index": int(index)}) + "\n")
atomic_write_text(output, "".join(lines))
PY
  "$PYTHON" -m inpars.expand --corpus "$data" --queries "$work/queries-passages.jsonl" \
    --output "$work/expanded-passages" --quiet
  "$PYTHON" -m inpars.search --queries "$data" --qrels "$data" --k 1000 --threads "$THREADS" \
    --quiet --corpus "$data" --bm25-corpus "$work/expanded-passages" --hybrid \
    --bm25-index "$work/cache/bm25-passages" --embeddings "$work/cache/dense-original-v2" \
    --output "$runs/zero-shot+bm25-passages.trec" --bm25-output "$runs/bm25-passages.trec"
  for baseline in bm25-all zero-shot+bm25-all rrf; do
    "$PYTHON" -m inpars.evaluate --qrels "$data" --measures nDCG@10 RR@10 R@100 \
      --run "$runs/$baseline.trec" --run "$runs/bm25-passages.trec" \
      --run "$runs/zero-shot+bm25-passages.trec" \
      --json "$work/eval-passages-vs-$baseline.json" >"$work/eval-passages-vs-$baseline.txt"
  done
  cat "$work/eval-passages-vs-zero-shot+bm25-all.txt"
done
