"""Filtering synthetic queries: clean, score by the generator's log-probabilities, keep the top k.

Input: the JSON Lines records of ``inpars.generate`` (any records with ``doc_id``, ``query``,
``log_probs`` and optionally ``tokens``), or the queries published by the InPars authors, read
through :class:`inpars.published.RecordNormalizer`. Output: the kept records, unchanged (but
normalised, for published files) plus an added ``score``, best first, and beside them
``<output>.manifest.json`` with the settings, the counts below and the SHA-256 of the input
and output. Each record meets the rules in this order and is counted under the first that
drops it:

1. invalid: no ``log_probs``, a value that is not a finite log-probability, or ``tokens`` of
   another length (an error naming the line, or a count with ``skip_invalid``);
2. empty: the query is empty or whitespace;
3. too short / too long: fewer than ``min_words`` or more than ``max_words`` words (split on
   whitespace);
4. copied: the query repeats its document verbatim (see :func:`is_copied`; needs the corpus);
   copied from a prompt example: the query repeats the query or document of one of the
   prompt's few-shot examples the same way (an unrelated text, or a judged query leaking
   into training); the examples come from ``prompt_examples``, by default those the
   input's generation manifest names;
   short document: the document has fewer than ``min_doc_words`` words (off by default);
5. duplicate: the same query after normalisation (:func:`normalize_words`) as a better-scored
   record (on equal scores the earlier line wins), across all documents;
   failed the round trip: with ``consistency_model``, a dense retriever searching the whole
   corpus with the query does not rank its document in the top ``consistency_depth``
   (:mod:`inpars.consistency`; off by default);
6. over the per-document cap: ``max_per_doc`` better records of the same document are kept
   (a document's, not a passage's: the queries ``inpars.generate --passage-tokens`` wrote for
   all of a document's passages share its cap);
7. below the top k: ``keep_top_k`` better records are kept.

The score is the generator's confidence (``score``, a function of ``log_probs``), or, with
``reranker`` (the InPars-v2 filter, which kept the 10k best of 100k by monoT5-3B score), the
relevance a reranker gives the (query, its document) pair, through the same
:class:`inpars.pair_scores.PairScorer` as :mod:`inpars.expand`; records then wait in batches of
``reranker_batch_size`` for the model, and rules 5-7 rank by that score. The document of a
pair, and of the copy rule, is the whole document, for a query generated from one of its
passages too (a reranker reads it up to its maximum input length).

Rules 6-7 select exactly what a greedy pass over all surviving records in score order would
(best first, skipping a record whose document already has ``max_per_doc``, stopping at k).

Memory: the top k are kept in a heap, O(k). Exact de-duplication needs to know each
normalised query's best score, which is as large as the input; that table lives in a
temporary SQLite file on disk instead of in memory, and a second streaming pass over the input
picks up the records that won. With the copy rule, the texts of the documents the input refers
to are held in memory (O(those documents), independent of the number of queries per document).
The round trip holds the corpus's embeddings (computed once, cached on disk by
:mod:`inpars.search`) and at most ``consistency_batch_size`` records waiting to be checked.

Command line: ``python -m inpars.filter --help`` (:mod:`inpars.cli.filter`). The library
lives in ``inpars.filter.config`` (settings, rules, summary), ``scores`` (scores and the
word-level comparisons), ``records`` (reading the input), ``selection`` (top k,
de-duplication), ``models`` (round trip, reranker) and ``run`` (:func:`filter_queries`);
everything public is importable from ``inpars.filter``.
"""

from __future__ import annotations

from inpars.filter.config import DROP_RULES, DropRule, FilterConfig, FilterSummary
from inpars.filter.records import CheckedRecord, check_record, read_records
from inpars.filter.run import artifact, filter_queries, load_documents_for, prompt_example_texts
from inpars.filter.scores import (
    SCORE_FUNCTIONS,
    dedup_key,
    is_copied,
    mean_log_probs,
    mean_probs,
    normalize_words,
    normalized_document,
    sum_log_probs,
)
from inpars.filter.selection import TopK

__all__ = [
    "DROP_RULES",
    "SCORE_FUNCTIONS",
    "CheckedRecord",
    "DropRule",
    "FilterConfig",
    "FilterSummary",
    "TopK",
    "artifact",
    "check_record",
    "dedup_key",
    "filter_queries",
    "is_copied",
    "load_documents_for",
    "mean_log_probs",
    "mean_probs",
    "normalize_words",
    "normalized_document",
    "prompt_example_texts",
    "read_records",
    "sum_log_probs",
]
