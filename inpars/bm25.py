"""BM25 with Pyserini (Lucene): build or reuse an index of a corpus, and search it in batches.

The index holds every document the corpus readers yield, as ``Document.contents`` (title and
text joined the one inpars way), with positions, document vectors and the raw document stored,
so that it also serves Pyserini tools (RM3, document vectors) beyond BM25.

Reuse: a finished index carries ``inpars-index.json`` with a fingerprint of everything that
decides its content: the corpus fingerprint (:func:`inpars.artifacts.corpus_fingerprint`, of
each document's id and contents in corpus order), the analysis settings and the Pyserini
version. :func:`ensure_index` recomputes the corpus part (a streaming pass, no JVM
needed) and reuses the index only on an exact match; anything else rebuilds it, into a
temporary folder that replaces the old one only once complete, so a crash never leaves a
half-built index that looks finished.

Analysis: documents and queries go through the same analyzer, the one the index was built with.
:class:`IndexSettings` (stemmer, stop words) is recorded in ``inpars-index.json`` and
:class:`Bm25Searcher` builds its query analyzer from that record, so an index built with
``--stemmer none`` is searched without stemming and one built with ``--keep-stopwords`` keeps
stop words in queries too. (Pyserini's ``LuceneSearcher`` alone would always analyse queries
with Anserini's default, Porter stemming and stop-word removal.) An index without the record
(built by another tool) is searched with that default, as Pyserini does.

Search: :class:`Bm25Searcher` ranks exactly as Pyserini's ``LuceneSearcher.search`` does with
the same analyzer (same query generator, BM25 similarity and tie-break by document id), but
fetches results without building one Python object per hit. Pyserini's ``search`` and
``batch_search`` load every hit's stored document and convert each hit through JNI (about
10 µs a hit), which dominates at depth 1000; here Lucene's top docs come back as one JSON
string and ids are decoded only for the hits a caller reads. ``batch_search`` runs the Java
side on several threads.

Importing this module is cheap: the JVM starts (via :mod:`inpars.java`) only when an index is
built or a searcher opened.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

from inpars.artifacts import CorpusFingerprint, corpus_fingerprint
from inpars.errors import InparsError
from inpars.io import atomic_write_json, locked
from inpars.records import Document

DEFAULT_K1 = 0.9
"""BM25 k1 of Anserini's BEIR baselines (flat indexes)."""

DEFAULT_B = 0.4
"""BM25 b of Anserini's BEIR baselines."""

FINGERPRINT_FILE = "inpars-index.json"
"""The file in an index folder that records what the index was built from."""

INDEX_FORMAT = 1
"""Bumped when inpars changes how it builds indexes, so that old ones are rebuilt."""

STEMMERS = ("porter", "krovetz", "none")

# Documents handed to the Java indexer per call: large enough to amortise the JNI call,
# small enough to keep the batch's JSON strings in memory cheaply.
_INDEX_BATCH = 2_000

# One hit of Lucene's TopFieldDocs as Jackson serialises it with properties sorted
# alphabetically: the Lucene doc number, the sort fields (score, then the "id" BytesRef as
# base64 of its whole backing array plus length and offset), the score.
_HIT = re.compile(
    r'\{"doc":(\d+),"fields":\[[^,\]]*,\{"bytes":"([^"]*)","length":(\d+),"offset":(\d+)'
    r'[^}]*\}\],"score":([^,}]+)'
)
_HIT_START = '{"doc":'


@dataclass(frozen=True)
class IndexSettings:
    """How documents are analysed when indexed, and queries when the index is searched.

    Recorded in the index's ``inpars-index.json``; :class:`Bm25Searcher` reads it back with
    :meth:`of_index` so that queries are analysed the way the documents were.
    """

    stemmer: str = "porter"  # Anserini's default English analysis
    keep_stopwords: bool = False

    def __post_init__(self) -> None:
        if self.stemmer not in STEMMERS:
            raise InparsError(
                f"unknown stemmer {self.stemmer!r}; expected one of {', '.join(STEMMERS)}"
            )

    @classmethod
    def of_index(cls, index_dir: str | Path) -> IndexSettings | None:
        """The settings an index was built with, as recorded by inpars; None when unrecorded.

        Raises:
            InparsError: when the record names settings this inpars does not know.
        """
        metadata = read_index_metadata(index_dir)
        recorded = None if metadata is None else metadata.get("settings")
        if not isinstance(recorded, dict):
            return None
        stemmer = recorded.get("stemmer", cls.stemmer)
        keep_stopwords = recorded.get("keep_stopwords", cls.keep_stopwords)
        if not isinstance(stemmer, str) or not isinstance(keep_stopwords, bool):
            raise InparsError(
                f"{Path(index_dir) / FINGERPRINT_FILE}: unreadable analysis settings "
                f"{recorded!r}; rebuild the index"
            )
        return cls(stemmer=stemmer, keep_stopwords=keep_stopwords)

    def query_analyzer(self) -> Any:
        """The Lucene analyzer for queries: the one Anserini's indexer used for documents.

        Needs the JVM (started by :func:`inpars.java.load_pyserini`).
        """
        from pyserini.analysis import get_lucene_analyzer

        return get_lucene_analyzer(
            language="en",
            stemming=self.stemmer != "none",
            stemmer=self.stemmer,
            stopwords=not self.keep_stopwords,
        )

    def indexer_args(self, index_dir: Path) -> list[str]:
        """Arguments for Anserini's ``SimpleIndexer`` (its ``IndexCollection`` flags)."""
        args = [
            "-index",
            str(index_dir),
            "-storePositions",
            "-storeDocvectors",
            "-storeRaw",
            "-stemmer",
            self.stemmer,
        ]
        if self.keep_stopwords:
            args.append("-keepStopwords")
        return args


@dataclass(frozen=True)
class IndexInfo:
    """An index ready to search, and how it came to be."""

    path: Path
    documents: int
    fingerprint: str
    reused: bool  # True: found up to date; False: built by this call
    seconds: float  # time spent checking and (re)building
    reason: str  # why it was built, or "unchanged"


@dataclass(frozen=True)
class Hit:
    """One search result: a document, its BM25 score and its 1-based rank."""

    doc_id: str
    score: float
    rank: int


def pyserini_version() -> str:
    """The installed Pyserini version, read from package metadata (no import, no JVM)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyserini")
    except PackageNotFoundError:
        return "not installed"


def index_fingerprint(corpus_fingerprint: str, settings: IndexSettings) -> str:
    """What decides an index's content: the corpus (:func:`inpars.artifacts.corpus_fingerprint`),
    the analysis settings and the Pyserini version."""
    header = {
        "format": INDEX_FORMAT,
        "pyserini": pyserini_version(),
        **asdict(settings),
        "corpus": corpus_fingerprint,
    }
    return hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8")).hexdigest()


def read_index_metadata(index_dir: str | Path) -> dict[str, Any] | None:
    """The metadata inpars wrote into a finished index, or None when there is none."""
    path = Path(index_dir) / FINGERPRINT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _looks_like_index(directory: Path) -> bool:
    """Whether a folder is safe to replace: empty, a Lucene index, or an inpars index."""
    if not directory.exists():
        return True
    if not directory.is_dir():
        return False
    names = [entry.name for entry in directory.iterdir()]
    return (
        not names or FINGERPRINT_FILE in names or any(name.startswith("segments") for name in names)
    )


def _progress_task(progress: Any, description: str, total: int | None) -> Any:
    return None if progress is None else progress.add_task(description, total=total)


def build_index(
    documents: Iterable[Document],
    index_dir: str | Path,
    settings: IndexSettings = IndexSettings(),
    *,
    threads: int = 1,
    corpus_label: str = "",
    progress: Any = None,
    total: int | None = None,
) -> IndexInfo:
    """Builds a Lucene index of ``documents`` at ``index_dir``, replacing what is there.

    The index is built in a sibling temporary folder and moved into place when complete.
    ``progress`` is an optional ``rich.progress.Progress`` to report documents on.

    Raises:
        InparsError: when ``index_dir`` is a folder that is not an index (it is never
            deleted), or the corpus has no documents.
    """
    from inpars.java import load_pyserini

    start = time.perf_counter()
    index_dir = Path(index_dir)
    if not _looks_like_index(index_dir):
        raise InparsError(
            f"{index_dir}: exists and is not a Lucene index; refusing to replace it "
            "(choose another --index folder)"
        )
    lucene = load_pyserini()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    building = index_dir.with_name(f".{index_dir.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    fingerprint = CorpusFingerprint()
    task = _progress_task(progress, "index", total)
    indexer = lucene.LuceneIndexer(args=settings.indexer_args(building), threads=max(1, threads))
    try:
        batch: list[str] = []
        for doc in documents:
            contents = doc.contents
            fingerprint.add(doc.id, contents)
            batch.append(json.dumps({"id": doc.id, "contents": contents}, ensure_ascii=False))
            if len(batch) >= _INDEX_BATCH:
                indexer.add_batch_raw(batch)
                if task is not None:
                    progress.advance(task, len(batch))
                batch = []
        if batch:
            indexer.add_batch_raw(batch)
            if task is not None:
                progress.advance(task, len(batch))
        indexer.close()
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if fingerprint.documents == 0:
        shutil.rmtree(building, ignore_errors=True)
        raise InparsError(f"{corpus_label or 'corpus'}: no documents to index")
    digest = index_fingerprint(fingerprint.hexdigest(), settings)
    metadata = {
        "fingerprint": digest,
        "corpus_fingerprint": fingerprint.hexdigest(),
        "documents": fingerprint.documents,
        "corpus": corpus_label,
        "settings": asdict(settings),
        "format": INDEX_FORMAT,
        "pyserini": lucene.version,
        "anserini_jar": lucene.jar,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - start, 3),
    }
    # The metadata goes in last: an index folder without it is never reused.
    atomic_write_json(building / FINGERPRINT_FILE, metadata)
    _replace_folder(building, index_dir)
    return IndexInfo(
        path=index_dir,
        documents=fingerprint.documents,
        fingerprint=digest,
        reused=False,
        seconds=time.perf_counter() - start,
        reason="built",
    )


def _replace_folder(new: Path, target: Path) -> None:
    """Moves ``new`` to ``target``; an old ``target`` is moved aside first, then deleted."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def ensure_index(
    documents: Iterable[Document],
    index_dir: str | Path,
    settings: IndexSettings | None = None,
    *,
    threads: int = 1,
    corpus_label: str = "",
    rebuild: bool = False,
    progress: Any = None,
) -> IndexInfo:
    """An index of ``documents`` at ``index_dir``: the existing one when up to date, else built.

    Up to date means the folder's ``inpars-index.json`` fingerprint equals that of
    ``documents`` with ``settings`` (checked by streaming the corpus once; no JVM is started
    for the check). ``documents`` must be re-iterable (a :class:`~inpars.corpus.CorpusReader`
    is) since a rebuild reads it again. Processes sharing ``index_dir`` (the shards of a run
    on one machine) take turns through a lock file (:func:`_lock_file`): the first builds,
    the others then find the index up to date.

    ``settings`` None means: those the existing index was built with (a stage that does not
    choose the analysis, such as the rerank first stage, reuses an index as it is), else the
    default. The searcher then analyses queries the same way (:meth:`IndexSettings.of_index`).
    """
    index_dir = Path(index_dir)
    with locked(_lock_file(index_dir)):
        return _ensure_index(
            documents,
            index_dir,
            settings,
            threads=threads,
            corpus_label=corpus_label,
            rebuild=rebuild,
            progress=progress,
        )


def _lock_file(index_dir: Path) -> Path:
    """The lock of an index folder: in the temporary directory, named by the folder's path.

    Not beside the index, which stays a plain folder; a lock serialises the processes of one
    machine, which is what shards sharing an index are (locks on network file systems are
    not to be trusted anyway).
    """
    key = hashlib.sha256(str(index_dir.resolve()).encode("utf-8")).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "inpars-locks" / f"bm25-index-{key}.lock"


def _ensure_index(
    documents: Iterable[Document],
    index_dir: Path,
    settings: IndexSettings | None,
    *,
    threads: int,
    corpus_label: str,
    rebuild: bool,
    progress: Any,
) -> IndexInfo:
    start = time.perf_counter()
    index_dir = Path(index_dir)
    metadata = read_index_metadata(index_dir)
    if settings is None:
        settings = IndexSettings.of_index(index_dir) or IndexSettings()
    reason = "rebuild requested"
    total = None
    if not rebuild:
        if metadata is None:
            reason = "no index yet" if not index_dir.exists() else "no inpars fingerprint"
        else:
            task = _progress_task(progress, "check index", metadata.get("documents"))
            corpus, total = corpus_fingerprint(documents, progress, task)
            digest = index_fingerprint(corpus, settings)
            if digest == metadata.get("fingerprint"):
                return IndexInfo(
                    path=index_dir,
                    documents=total,
                    fingerprint=digest,
                    reused=True,
                    seconds=time.perf_counter() - start,
                    reason="unchanged",
                )
            reason = "corpus or settings changed"
    info = build_index(
        documents,
        index_dir,
        settings,
        threads=threads,
        corpus_label=corpus_label,
        progress=progress,
        total=total,
    )
    return IndexInfo(
        path=info.path,
        documents=info.documents,
        fingerprint=info.fingerprint,
        reused=False,
        seconds=time.perf_counter() - start,
        reason=reason,
    )


def _float32(text: str) -> float:
    """A score as Lucene holds it (a 32-bit float), widened: equal to Pyserini's ``hit.score``."""
    return struct.unpack("<f", struct.pack("<f", float(text)))[0]


class Ranking(Sequence[Hit]):
    """The ranked hits of one query; ids and scores are decoded only for hits that are read."""

    __slots__ = ("_lucene_ids", "_rows")

    def __init__(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        self._rows = rows
        self._lucene_ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Hit: ...

    @overload
    def __getitem__(self, index: slice) -> list[Hit]: ...

    def __getitem__(self, index: int | slice) -> Hit | list[Hit]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._rows)))]
        if index < 0:
            index += len(self._rows)
        if not 0 <= index < len(self._rows):
            raise IndexError("hit index out of range")
        _, encoded, length, offset, score = self._rows[index]
        start = int(offset)
        doc_id = base64.b64decode(encoded)[start : start + int(length)].decode("utf-8")
        return Hit(doc_id=doc_id, score=_float32(score), rank=index + 1)

    def __iter__(self) -> Iterator[Hit]:
        return (self[i] for i in range(len(self._rows)))

    @property
    def lucene_ids(self) -> list[int]:
        """Lucene's internal document numbers of the hits, in rank order."""
        if self._lucene_ids is None:
            self._lucene_ids = [int(row[0]) for row in self._rows]
        return self._lucene_ids

    def position_of(self, lucene_id: int) -> int | None:
        """The 0-based position of a Lucene document number in this ranking, or None."""
        key = str(lucene_id)
        for position, row in enumerate(self._rows):
            if row[0] == key:
                return position
        return None


def parse_top_docs(text: str) -> Ranking:
    """A :class:`Ranking` from the Jackson JSON of Lucene ``TopFieldDocs``.

    Raises:
        InparsError: when the JSON does not have the expected shape (a Pyserini/Anserini
            version that serialises differently), rather than silently losing hits.
    """
    rows = _HIT.findall(text)
    expected = text.count(_HIT_START)
    if len(rows) != expected:
        raise InparsError(
            f"unexpected Lucene result format ({len(rows)} of {expected} hits parsed); "
            f"this inpars version was tested with pyserini 1.6.0"
        )
    return Ranking(rows)


class _BoundedCache(OrderedDict):
    """A least-recently-used dict with a maximum size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class Bm25Searcher:
    """BM25 search over an index built by :func:`build_index` (or any Anserini index).

    Queries are analysed as the index's documents were: with the :class:`IndexSettings`
    recorded in the index (``settings``), or Anserini's default for an index without a
    record. Rankings are those of Pyserini's ``LuceneSearcher.search`` with
    ``set_bm25(k1, b)`` and that analyzer (``self.pyserini`` is set up so): same scores and
    tie order (by document id). Thread-safe for searching.

    ``texts``: the documents' texts :meth:`doc_contents` returns when they are not the
    indexed ones (an index of an expansion, :mod:`inpars.bm25_corpus`).
    """

    def __init__(
        self,
        index_dir: str | Path,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        *,
        cache_size: int = 100_000,
        texts: Mapping[str, str] | None = None,
    ) -> None:
        from inpars.java import load_pyserini

        index_dir = Path(index_dir)
        if not index_dir.is_dir():
            raise InparsError(f"{index_dir}: no such index folder")
        if k1 < 0 or not 0 <= b <= 1:
            raise InparsError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1={k1}, b={b})")
        settings = IndexSettings.of_index(index_dir)
        lucene = load_pyserini()
        self.path = index_dir
        self.k1 = k1
        self.b = b
        self.settings = settings or IndexSettings()
        self.recorded_settings = settings is not None
        jclass = lucene.autoclass
        self.pyserini = lucene.LuceneSearcher(str(index_dir))
        self.pyserini.set_bm25(k1, b)
        # The searcher's default analyzer is Anserini's Porter + stop words, whatever the
        # index holds: give it (and this class's own query path) the index's analyzer.
        self._analyzer = self.settings.query_analyzer()
        self.pyserini.set_analyzer(self._analyzer)
        self._utils = jclass("io.anserini.index.IndexReaderUtils")
        self._reader = self._utils.getReader(str(index_dir))
        # pyjnius picks the IndexReaderContext constructor overload without the cast.
        self._searcher = jclass("org.apache.lucene.search.IndexSearcher")(
            lucene.cast("org.apache.lucene.index.IndexReader", self._reader)
        )
        self._searcher.setSimilarity(
            jclass("org.apache.lucene.search.similarities.BM25Similarity")(float(k1), float(b))
        )
        self._generator = jclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self._sort = jclass("io.anserini.search.SearchCollection").BREAK_SCORE_TIES_BY_DOCID
        self._mapper = jclass("com.fasterxml.jackson.databind.ObjectMapper")()
        feature = jclass("com.fasterxml.jackson.databind.MapperFeature")
        # A fixed property order is what parse_top_docs' pattern relies on.
        self._mapper.configure(feature.SORT_PROPERTIES_ALPHABETICALLY, True)
        self._contents_cache = _BoundedCache(cache_size)
        self._lucene_id_cache = _BoundedCache(cache_size)
        self._lock = threading.Lock()
        self._texts = texts

    @property
    def num_docs(self) -> int:
        """The number of documents in the index."""
        return int(self._reader.numDocs())

    def _top_docs_json(self, query: str, k: int) -> str:
        lucene_query = self._generator.buildQuery("contents", self._analyzer, query)
        top = self._searcher.search(lucene_query, k, self._sort, True)
        return self._mapper.writeValueAsString(top)

    def search(self, query: str, k: int = 1000) -> Ranking:
        """The top ``k`` hits of one query."""
        if k < 1:
            raise InparsError(f"search depth must be at least 1 (got {k})")
        return parse_top_docs(self._top_docs_json(query, k))

    def batch_search(
        self, queries: Sequence[str], k: int = 1000, threads: int = 1
    ) -> list[Ranking]:
        """The top ``k`` hits of each query, in query order, searched on ``threads`` threads."""
        if k < 1:
            raise InparsError(f"search depth must be at least 1 (got {k})")
        threads = max(1, min(threads, len(queries)))
        if threads == 1:
            return [parse_top_docs(self._top_docs_json(query, k)) for query in queries]
        results: list[Ranking | None] = [None] * len(queries)
        errors: list[BaseException] = []

        def work(first: int) -> None:
            try:
                for i in range(first, len(queries), threads):
                    results[i] = parse_top_docs(self._top_docs_json(queries[i], k))
            except BaseException as exc:
                errors.append(exc)
            finally:
                # pyjnius attaches each thread to the JVM; a thread that ends attached
                # leaks its JNI environment.
                from jnius import detach

                detach()

        workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    def scores(self, query: str, doc_ids: Sequence[str]) -> list[float]:
        """The BM25 score of each document for ``query`` (0.0 where no query term occurs).

        Exact for any document, ranked or not: Lucene explains the query on each one.
        """
        lucene_query = self._generator.buildQuery("contents", self._analyzer, query)
        values = []
        for doc_id in doc_ids:
            number = self.lucene_id(doc_id)
            if number is None:
                raise InparsError(f"doc_id {doc_id!r} is not in the index {self.path}")
            explanation = self._searcher.explain(lucene_query, number)
            values.append(float(explanation.getValue().floatValue()))
        return values

    def lucene_id(self, doc_id: str) -> int | None:
        """Lucene's internal number of a document, or None when the index lacks the id."""
        with self._lock:
            if doc_id in self._lucene_id_cache:
                return self._lucene_id_cache[doc_id]
        number = int(self._utils.convertDocidToLuceneDocid(self._reader, doc_id))
        value = number if number >= 0 else None
        with self._lock:
            self._lucene_id_cache.put(doc_id, value)
        return value

    def has_doc(self, doc_id: str) -> bool:
        """Whether the index holds a document with this id."""
        return self.lucene_id(doc_id) is not None

    def doc_contents(self, doc_id: str) -> str | None:
        """The indexed text of a document (title and text as the readers join them), or None.

        With ``texts``, the document's text there (None for a document not in it).
        """
        if self._texts is not None:
            return self._texts.get(doc_id)
        with self._lock:
            if doc_id in self._contents_cache:
                return self._contents_cache[doc_id]
        raw = self.pyserini.object.doc_raw(doc_id)
        contents: str | None = None
        if raw is not None:
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("contents"), str):
                contents = value["contents"]
            else:  # an index not built by inpars: the stored raw text is the document
                contents = raw
        with self._lock:
            self._contents_cache.put(doc_id, contents)
        return contents

    def close(self) -> None:
        """Releases the index files."""
        self.pyserini.close()
        self._reader.close()

    def __enter__(self) -> Bm25Searcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_B",
    "DEFAULT_K1",
    "FINGERPRINT_FILE",
    "Bm25Searcher",
    "Hit",
    "IndexInfo",
    "IndexSettings",
    "Ranking",
    "build_index",
    "ensure_index",
    "index_fingerprint",
    "parse_top_docs",
    "read_index_metadata",
]
