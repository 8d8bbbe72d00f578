"""Dense retrievers from synthetic queries: GenQ and GPL training of sentence-transformers
bi-encoders.

Library use::

    from inpars.dense import GenQConfig, GplLabelConfig, GplTrainConfig
    from inpars.dense import label_gpl, train_genq, train_gpl

    train_genq(GenQConfig(queries="filtered.jsonl", corpus="data/scifact", output="genq"))
    label_gpl(GplLabelConfig(queries="filtered.jsonl", corpus="data/scifact",
                             teacher="ce-scifact", output="gpl-labels.jsonl"))
    train_gpl(GplTrainConfig(labels="gpl-labels.jsonl", corpus="data/scifact", output="gpl"))

Command line: ``python -m inpars.dense {genq,gpl-label,gpl-train} --help``
(:mod:`inpars.cli.dense`).

**GenQ** (Thakur et al., BEIR 2021): the bi-encoder learns from (generated query, its
document) pairs with MultipleNegativesRankingLoss: every other document of the batch is a
negative. With ``triples`` (``inpars.triples`` output) each pair also brings its mined BM25
negative. Batches never hold one text twice (sentence-transformers' no-duplicates sampler, as
the GenQ example's ``NoDuplicatesDataLoader``): several queries of one document in a batch
would otherwise be each other's false negatives.

**GPL** (Wang et al., NAACL 2022) in two steps. ``gpl-label``: for each generated query, one or
more retrievers (dense models through :mod:`inpars.search`, and ``bm25``) return their top
``depth`` documents; ``negatives_per_retriever`` are drawn at random from each (never the
query's own document, nor any document the same normalised query was generated from, as in
:mod:`inpars.triples`), and a cross-encoder teacher (an ``inpars.train`` reranker, a
cross-encoder or monoT5, through :func:`inpars.rerankers.load_reranker`) scores the query
with its positive and with each negative; ``teacher_bm25_weight`` fuses those scores with
BM25's (:func:`fuse_with_bm25`, each scorer divided by its spread over the first 1,000
queries' candidates), for a teacher that alone knows no more than the student.
Each (query, positive, negative) is written with the margin ``teacher(q, pos) -
teacher(q, neg)`` as a :class:`~inpars.records.MarginLabel`, chunk by chunk, so a rerun
resumes. ``gpl-train`` then fits the bi-encoder's margin ``scale * (s(q, pos) - s(q, neg))``
to the teacher's with MarginMSELoss, the scale fitted to the teacher's units
(:func:`fit_margin_scale`) unless given.

Training is sentence-transformers' ``SentenceTransformerTrainer`` over a ``datasets.Dataset``:
checkpoints every ``save_steps`` hold the optimizer, scheduler, RNG states and data position;
the same command resumes from the last one, and a folder trained with other settings is
refused unless ``overwrite``. A finished folder is a sentence-transformers model plus
``inpars-reranker.json`` (kind ``bi-encoder``), so ``inpars.search`` and ``inpars.rerank``
both use it.
"""

from inpars.dense.config import (
    BATCH_SAMPLERS,
    BM25_RETRIEVER,
    BiEncoderTrainConfig,
    GenQConfig,
    GplLabelConfig,
    GplTrainConfig,
)
from inpars.dense.data import document_texts, genq_columns, gpl_columns, read_labels
from inpars.dense.labels import (
    GplLabelSummary,
    fuse_with_bm25,
    label_gpl,
    sample_query_negatives,
    score_spread,
)
from inpars.dense.training import (
    DenseTrainSummary,
    ScaledSimilarity,
    fit_margin_scale,
    resolve_similarity,
    train_genq,
    train_gpl,
)

__all__ = [
    "BATCH_SAMPLERS",
    "BM25_RETRIEVER",
    "BiEncoderTrainConfig",
    "DenseTrainSummary",
    "GenQConfig",
    "GplLabelConfig",
    "GplLabelSummary",
    "GplTrainConfig",
    "ScaledSimilarity",
    "document_texts",
    "fit_margin_scale",
    "fuse_with_bm25",
    "genq_columns",
    "gpl_columns",
    "label_gpl",
    "read_labels",
    "resolve_similarity",
    "sample_query_negatives",
    "score_spread",
    "train_genq",
    "train_gpl",
]
