"""Publishing a run as a dataset folder: queries, triples, manifests, statistics, card, checksums.

Library use::

    from inpars.publish import PublishConfig, publish, verify_bundle

    publish(PublishConfig(queries="filtered.jsonl", triples="triples.tsv",
                          output="scifact-inpars", license="cc-by-4.0"))
    assert verify_bundle("scifact-inpars").ok

Command line (:mod:`inpars.cli.publish`): ``python -m inpars.publish --help``, ``python -m
inpars.publish verify DIR``, ``python -m inpars.publish push DIR --repo-id USER/NAME``.

The folder holds (:data:`QUERIES_FILE` and friends):

``queries.jsonl``
    the filtered queries: ``inpars.filter`` records (``doc_id``, ``query``, ``score``,
    ``log_probs``, ``tokens``, ...), one per line, best first;
``triples.jsonl`` / ``triples.tsv``
    with ``--triples``: :class:`~inpars.records.Triple` records with ids, and the same
    triples as ``query<TAB>positive text<TAB>negative text``;
``manifests/<stage>.manifest.json``
    the run manifests of the stages that made the files (generate, filter, triples);
``stats.json``
    documents, queries kept and dropped per filter rule, the score and query length
    distributions, triples and the ranks of their negatives;
``plots/*.png``
    the score distribution of the kept and dropped queries with the cut between them, the
    queries each filter rule dropped, query length, and queries per document
    (:mod:`inpars.plots`), shown in the card;
``README.md``
    a Hugging Face dataset card: YAML metadata (license, task categories, size, configs)
    and how the data was made, its fields, how to load it, intended use and limitations;
``SHA256SUMS``
    the SHA-256 of every other file, in ``sha256sum -c`` format.

Provenance is checked before anything is written: the filter's manifest must name the very
bytes of ``--queries`` (by SHA-256), the generation manifest is found beside the filter's
input, and the triples manifest must name the same queries and the very TSV and JSON Lines
files. Every triple's (query, document) must be among the queries. A missing or mismatching
manifest stops the run unless ``allow_missing_manifests``, and is then listed in the card.

The folder is built under a temporary name beside ``output`` and renamed when complete, so a
folder with the final name is always whole. It loads with
``datasets.load_dataset("json", data_files=...)`` and with :func:`load_bundle`, and its
``queries.jsonl`` goes straight back into ``inpars.filter`` and ``inpars.triples``.

Uploading (``push_to_hub``) needs ``huggingface_hub`` and a token (``HF_TOKEN`` or ``hf auth
login``). Offline mode, a missing token or an unreachable hub fail within ``timeout`` seconds
with a message saying that nothing was uploaded; success is reported only with the commit the
hub returned.
"""

from inpars.publish.bundle import PublishSummary, publish, write_checksums
from inpars.publish.card import INPARS_CITATION, render_card
from inpars.publish.config import HUB_LICENSES, PublishConfig
from inpars.publish.hub import push_to_hub
from inpars.publish.layout import (
    CARD_FILE,
    MANIFESTS_DIR,
    QUERIES_FILE,
    STAGES,
    STATS_FILE,
    SUMS_FILE,
    TRIPLES_JSONL_FILE,
    TRIPLES_TSV_FILE,
)
from inpars.publish.provenance import Provenance, gather_provenance
from inpars.publish.reader import Bundle, VerifyResult, load_bundle, read_checksums, verify_bundle
from inpars.publish.stats import build_stats, describe, size_category

__all__ = [
    "CARD_FILE",
    "HUB_LICENSES",
    "INPARS_CITATION",
    "MANIFESTS_DIR",
    "QUERIES_FILE",
    "STAGES",
    "STATS_FILE",
    "SUMS_FILE",
    "TRIPLES_JSONL_FILE",
    "TRIPLES_TSV_FILE",
    "Bundle",
    "Provenance",
    "PublishConfig",
    "PublishSummary",
    "VerifyResult",
    "build_stats",
    "describe",
    "gather_provenance",
    "load_bundle",
    "publish",
    "push_to_hub",
    "read_checksums",
    "render_card",
    "size_category",
    "verify_bundle",
    "write_checksums",
]
