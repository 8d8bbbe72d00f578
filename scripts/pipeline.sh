#!/usr/bin/env bash
# The whole pipeline (generate, filter, triples, train, rerank, evaluate) on several BEIR
# folders, then one table of every variant run so far. Each step is skipped when done.
#
#   bash scripts/pipeline.sh [PIPELINE FLAGS ...]        # see python -m inpars.pipeline --help
#   bash scripts/pipeline.sh --kind bi-encoder --name genq
#
# DATA (default ../shared/data), COLLECTIONS (default "cranfield cisi medline cacm") and
# RUNS (default runs) choose the inputs and the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-runs}
for collection in ${COLLECTIONS:-cranfield cisi medline cacm}; do
  echo "== $collection"
  python -m inpars.pipeline --collection "$DATA/$collection" --work-dir "$RUNS/$collection" "$@"
done
python scripts/pipeline_table.py "$RUNS"
