"""``--bm25-corpus``: BM25 over one corpus (an expansion), documents' texts from another.

Document expansion (:mod:`inpars.expand`, doc2query and Doc2Query--) writes a copy of a corpus
whose documents carry their synthetic queries. The expansion is for BM25 only: wherever BM25 is
a first stage, ``--bm25-corpus EXPANDED`` makes BM25 index and search the expansion, while
every document text a model or a person reads still comes from ``--corpus``, unexpanded. The
flag means the same in every command that has it:

- ``inpars.rerank``: the BM25 first stage searches the expansion; the reranker reads
  ``--corpus``;
- ``inpars.search --hybrid`` (runs and printed hits): the BM25 side of the fusion searches the
  expansion; the dense side encodes ``--corpus``, and printed passages are ``--corpus``'s;
- ``inpars.dense gpl-label``: the ``bm25`` retriever mines negatives from the expansion and
  ``--teacher-bm25-weight`` fuses BM25 scores of the expansion; the teacher reads ``--corpus``;
- ``inpars.triples``: negatives are mined from the expansion; the triples' texts are
  ``--corpus``'s.

The expansion must hold the same documents as ``--corpus`` (the same ids; :mod:`inpars.expand`
writes every document, in corpus order): anything else is refused, naming the first document
one has and the other lacks. The index is built or reused by :func:`inpars.bm25.ensure_index`
like any index: reused while its fingerprint (every indexed document's id and contents, and the
analysis settings) matches the expansion, rebuilt when it does not. Give the expansion's index
its own folder (the commands' defaults do where they are keyed by the corpus file): one folder
alternately holding the plain and the expanded index is rebuilt on every switch.

Memory: with ``--bm25-corpus``, the documents' texts are held in memory (O(corpus)) by the
commands that read them (rerank, gpl-label, triples), since the index stores the expansion.
Their manifests then list ``--corpus`` as an input of its own beside the index
(:meth:`Bm25Index.inputs`): an edited ``--corpus`` is another run, though the expansion is not.
The pipeline's ``--expand`` (:mod:`inpars.pipeline_expand`) searches expansions this way too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import CorpusFingerprint
from inpars.bm25 import Bm25Searcher, IndexInfo, IndexSettings, ensure_index
from inpars.corpus import CorpusReader
from inpars.errors import InputError

FLAG = "--bm25-corpus"


@dataclass(frozen=True)
class Bm25Index:
    """A BM25 index ready to open, of ``--corpus`` or of ``--bm25-corpus``.

    ``texts`` (only for an index of ``--bm25-corpus``, when asked for) are ``--corpus``'s
    documents, which :meth:`open`'s searcher returns from ``doc_contents``; ``texts_input``
    identifies them as :func:`inpars.artifacts.corpus_input` does.
    """

    info: IndexInfo
    texts: dict[str, str] | None = None
    texts_input: dict[str, Any] | None = None

    def open(self, k1: float, b: float) -> Bm25Searcher:
        """A searcher of the index whose ``doc_contents`` are ``--corpus``'s texts."""
        return Bm25Searcher(self.info.path, k1, b, texts=self.texts)

    def inputs(self) -> dict[str, dict[str, Any]]:
        """What a stage read here, as the inputs of its :class:`inpars.artifacts.Artifact`:
        the index (its fingerprint stands for the corpus it indexes), and with
        ``--bm25-corpus`` also ``--corpus``, whose texts the stage read (absent otherwise, so
        outputs written without the flag are the same run as before)."""
        found = {"index": {"path": str(self.info.path), "fingerprint": self.info.fingerprint}}
        if self.texts_input is not None:
            found["corpus"] = self.texts_input
        return found


def ensure_bm25_index(
    corpus: CorpusReader,
    index_dir: str | Path,
    *,
    bm25_corpus: CorpusReader | None = None,
    settings: IndexSettings | None = None,
    threads: int = 1,
    rebuild: bool = False,
    progress: Any = None,
    texts: bool = True,
) -> Bm25Index:
    """The index of ``bm25_corpus`` (default: ``corpus``) at ``index_dir``, built or reused.

    With ``bm25_corpus``, the two must hold the same documents (checked; a streaming pass
    over both), and with ``texts`` the result carries ``corpus``'s texts for the searcher.
    ``settings`` None: those of the existing index (see :func:`inpars.bm25.ensure_index`).

    Raises:
        InputError: when ``bm25_corpus`` holds other documents than ``corpus``.
    """
    indexed = bm25_corpus if bm25_corpus is not None else corpus
    text_map: dict[str, str] | None = None
    texts_input = None
    if bm25_corpus is not None:
        if texts:
            text_map, texts_input = _read_texts(corpus)
            _check_ids(iter(text_map), bm25_corpus, corpus, known=text_map)
        else:
            _check_ids(_all_ids(corpus), bm25_corpus, corpus)
    info = ensure_index(
        indexed,
        index_dir,
        settings,
        threads=threads,
        corpus_label=str(indexed.path),
        rebuild=rebuild,
        progress=progress,
    )
    return Bm25Index(info, text_map, texts_input)


def _read_texts(corpus: CorpusReader) -> tuple[dict[str, str], dict[str, Any]]:
    """Every document's text (empty ones as empty text), and the corpus as an input entry
    (:func:`inpars.artifacts.corpus_input`'s, from the same pass)."""
    texts: dict[str, str] = {}
    fingerprint = CorpusFingerprint()
    for doc in corpus.all_documents():
        texts[doc.id] = doc.contents
        if doc.contents.strip():  # the documents a plain pass yields (empty ones skipped)
            fingerprint.add(doc.id, doc.contents)
    entry = {
        "path": str(corpus.path),
        "fingerprint": fingerprint.hexdigest(),
        "documents": fingerprint.documents,
    }
    return texts, entry


def _all_ids(corpus: CorpusReader) -> Iterator[str]:
    return (doc.id for doc in corpus.all_documents())


def _check_ids(
    expected: Iterator[str],
    bm25_corpus: CorpusReader,
    corpus: CorpusReader,
    known: dict[str, str] | None = None,
) -> None:
    """Refuses a ``bm25_corpus`` whose documents are not ``corpus``'s.

    The ids are compared in order first (an expansion keeps the corpus order; no memory
    needed); on the first difference, as sets (``known``, or the ids read again).
    """
    found = _all_ids(bm25_corpus)
    for want in expected:
        if next(found, None) != want:
            break
    else:
        extra = next(found, None)
        if extra is None:
            return
        _refuse(bm25_corpus, corpus, extra, None)
    ids = set(known) if known is not None else set(_all_ids(corpus))
    seen: set[str] = set()
    for doc_id in _all_ids(bm25_corpus):
        if doc_id not in ids:
            _refuse(bm25_corpus, corpus, doc_id, None)
        seen.add(doc_id)
    missing = next((doc_id for doc_id in _all_ids(corpus) if doc_id not in seen), None)
    if missing is not None:
        _refuse(bm25_corpus, corpus, None, missing)


def _refuse(
    bm25_corpus: CorpusReader, corpus: CorpusReader, extra: str | None, missing: str | None
) -> None:
    if extra is not None:
        problem = f"document {extra!r} is not in --corpus {corpus.file}"
    else:
        problem = f"has no document {missing!r}, which --corpus {corpus.file} has"
    raise InputError(
        f"{problem}: {FLAG} must hold the same documents as --corpus (an expansion of it "
        "written by inpars.expand)",
        bm25_corpus.file,
        field=bm25_corpus.id_field_name,
    )


__all__ = ["FLAG", "Bm25Index", "ensure_bm25_index"]
