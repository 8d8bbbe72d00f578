"""BM25's top 1000 for a BEIR folder's judged queries, as a TREC run (the run that
``inpars.search --hybrid --bm25-output`` writes, byte for byte, without the dense half):

    python scripts/bm25_run.py OUTPUT CORPUS INDEX DATA [THREADS]

CORPUS is what BM25 indexes and searches (e.g. an expansion from inpars.expand), INDEX its
Lucene index folder (built, or reused while CORPUS is unchanged), DATA the BEIR folder whose
queries judged in qrels/test.tsv are searched. Used by scripts/expansion_eval.sh and
scripts/expansion_queries_per_doc.sh.
"""

from __future__ import annotations

import sys

from inpars.corpus import read_corpus, read_qrels, read_queries
from inpars.io import atomic_write_text
from inpars.runs import format_run, rank_scores
from inpars.search import bm25_rankings


def main(output: str, corpus: str, index: str, data: str, threads: str = "1") -> None:
    judged = set(read_qrels(data))
    queries = [q for q in read_queries(data) if q.id in judged]
    texts = [q.text for q in queries]
    rankings = bm25_rankings(
        read_corpus(corpus), texts, 1000, index_dir=index, threads=int(threads)
    )
    atomic_write_text(output, "".join(
        format_run(rank_scores(q.id, r, "bm25")) for q, r in zip(queries, rankings, strict=True)
    ))  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
