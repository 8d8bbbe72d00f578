# Sourced (from the repository root) by the document-expansion scripts, scripts/expansion_*.sh:
# the settings they share. DATA: the BEIR collections; OUT: the experiment's folder; PYTHON: the
# interpreter with inpars; THREADS: the thread cap of torch, OpenMP and BM25 (1 leaves the other
# core to a job running beside it). The repository is put on PYTHONPATH.
DATA=${DATA:-../shared/data}
OUT=${OUT:-/work/exp}
PYTHON=${PYTHON:-python}
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
