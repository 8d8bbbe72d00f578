"""Triples with BM25 negatives from real Pyserini: exclusions, seeding, resuming, bad input."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inpars.bm25 import Ranking
from inpars.cli.triples import main
from inpars.corpus import read_corpus
from inpars.errors import InparsError, InputError
from inpars.triples import TriplesConfig, make_triples, query_rng, sample_negatives

from conftest import write_beir_corpus, write_expansion

VOCABULARY = [
    "flow", "heat", "wave", "shock", "plate", "layer", "pressure", "wing", "vortex", "drag",
    "lift", "cone", "body", "jet", "nozzle", "turbulence", "boundary", "mach", "surface",
    "stress",
]  # fmt: skip
SHARED_QUERY = "alpha centauri binary star"


def make_docs() -> list[tuple[str, str, str]]:
    rng = random.Random(7)
    docs = [(f"d{i}", "", " ".join(rng.choices(VOCABULARY, k=12))) for i in range(40)]
    # Two documents that generated the same query: each is a positive for it.
    docs.append(("s1", "Alpha Centauri", "alpha centauri is a binary star system"))
    docs.append(("s2", "", "the binary star alpha centauri has a planet"))
    docs.append(("rare", "", "quasar spectra flow"))  # the only doc with "quasar"
    docs.append(("x1", "", "binary search trees and star graphs"))  # negatives for SHARED_QUERY
    docs.append(("x2", "Centauri", "a dance"))
    return docs


def make_queries() -> list[dict[str, Any]]:
    rng = random.Random(3)
    rows = []
    for doc_id, _, text in make_docs()[:40]:
        words = text.split()
        start = rng.randrange(len(words) - 3)
        rows.append({"doc_id": doc_id, "query": " ".join(words[start : start + 3]), "score": -1})
    rows.append({"doc_id": "s1", "query": SHARED_QUERY})
    rows.append({"doc_id": "s2", "query": SHARED_QUERY + "?"})  # same after normalisation
    rows.append({"doc_id": "rare", "query": "quasar flow"})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("triples")
    corpus = write_beir_corpus(root / "corpus", make_docs())
    queries = write_jsonl(root / "queries.jsonl", make_queries())
    return {"corpus": corpus, "queries": queries, "index": root / "index"}


def config_for(shared: dict[str, Path], out: Path, **options: Any) -> TriplesConfig:
    options.setdefault("depth", 30)
    options.setdefault("batch_size", 7)
    options.setdefault("threads", 2)
    return TriplesConfig(
        queries=str(options.pop("queries", shared["queries"])),
        corpus=str(shared["corpus"]),
        output=str(out / "triples.tsv"),
        index=str(shared["index"]),
        **options,
    )


def read_triples(config: TriplesConfig) -> tuple[list[list[str]], list[dict[str, Any]]]:
    tsv = [line.split("\t") for line in Path(config.output).read_text().splitlines()]
    records = [json.loads(line) for line in config.jsonl_path.read_text().splitlines()]
    return tsv, records


def test_triples_outputs(shared: dict[str, Path], tmp_path: Path) -> None:
    config = config_for(shared, tmp_path, negatives_per_query=2)
    summary = make_triples(config)
    tsv, records = read_triples(config)
    assert summary.queries_read == summary.queries_searched == 43
    assert summary.short == summary.without_negatives == 0
    assert summary.triples == len(records) == len(tsv) == 86
    texts = {doc.id: doc.contents for doc in read_corpus(shared["corpus"])}
    for row, record in zip(tsv, records, strict=True):
        assert len(row) == 3
        assert row == [record["query"], texts[record["pos_id"]], texts[record["neg_id"]]]
        assert set(record) == {
            "query",
            "pos_id",
            "neg_id",
            "neg_rank",
            "bm25_score",
            "pos_rank",
            "query_score",
        }
        assert 1 <= record["neg_rank"] <= 30 and record["bm25_score"] > 0
    # The filter's score travels along; records without one get null.
    assert records[0]["query_score"] == -1 and records[-1]["query_score"] is None
    # The index built by the first run is reused afterwards.
    assert make_triples(replace(config, overwrite=True)).index_reused


def test_sibling_positives_are_never_negatives(shared: dict[str, Path], tmp_path: Path) -> None:
    config = config_for(shared, tmp_path, negatives_per_query=30, depth=60)
    make_triples(config)
    _, records = read_triples(config)
    for record in records:
        if record["query"].startswith(SHARED_QUERY):
            assert record["neg_id"] not in {"s1", "s2"}
    shared_rows = [r for r in records if r["query"].startswith(SHARED_QUERY)]
    assert {r["pos_id"] for r in shared_rows} == {"s1", "s2"}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), negatives=st.integers(1, 8))
def test_positive_is_never_a_negative(shared: dict[str, Path], seed: int, negatives: int) -> None:
    with tempfile.TemporaryDirectory() as out:
        config = config_for(shared, Path(out), seed=seed, negatives_per_query=negatives)
        make_triples(config)
        _, records = read_triples(config)
    assert records
    for record in records:
        assert record["neg_id"] != record["pos_id"]
        if record["query"].startswith(SHARED_QUERY):
            assert record["neg_id"] not in {"s1", "s2"}
    per_query: dict[tuple[str, str], list[str]] = {}
    for record in records:
        per_query.setdefault((record["query"], record["pos_id"]), []).append(record["neg_id"])
    assert all(len(set(negs)) == len(negs) <= negatives for negs in per_query.values())


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 40),
    excluded=st.sets(st.integers(0, 45), max_size=6),
    count=st.integers(1, 10),
    seed=st.integers(0, 2**32),
)
def test_sample_negatives_property(size: int, excluded: set[int], count: int, seed: int) -> None:
    ranking = Ranking([(str(i), "", "0", "0", "1.0") for i in range(size)])
    chosen = sample_negatives(ranking, excluded, count, random.Random(seed))
    available = [i for i in range(size) if i not in excluded]
    assert not set(chosen) & excluded
    assert chosen == sorted(set(chosen)) and set(chosen) <= set(available)
    assert len(chosen) == min(count, len(available))


def test_same_seed_same_triples(shared: dict[str, Path], tmp_path: Path) -> None:
    first = config_for(shared, tmp_path / "a", seed=11, negatives_per_query=3)
    again = config_for(
        shared, tmp_path / "b", seed=11, negatives_per_query=3, threads=1, batch_size=1000
    )
    other = config_for(shared, tmp_path / "c", seed=12, negatives_per_query=3)
    for config in (first, again, other):
        make_triples(config)
    assert Path(first.output).read_bytes() == Path(again.output).read_bytes()
    assert first.jsonl_path.read_bytes() == again.jsonl_path.read_bytes()
    assert first.jsonl_path.read_bytes() != other.jsonl_path.read_bytes()
    assert query_rng(1, "q", "d").random() == query_rng(1, "q", "d").random()


def test_missing_doc_id_is_an_error_naming_it(
    shared: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    queries = write_jsonl(
        tmp_path / "q.jsonl", [{"doc_id": "d1", "query": "flow"}, {"doc_id": "nope", "query": "x"}]
    )
    config = config_for(shared, tmp_path, queries=queries)
    with pytest.raises(InputError, match=r"q\.jsonl:2, field 'doc_id': doc_id 'nope' is not in"):
        make_triples(config)
    assert not Path(config.output).exists()
    args = ["--queries", str(queries), "--corpus", str(shared["corpus"]), "--quiet"]
    args += ["--output", str(tmp_path / "t.tsv"), "--index", str(shared["index"])]
    assert main(args) == 2
    assert "'nope'" in capsys.readouterr().err


def test_bad_query_records_are_errors(shared: dict[str, Path], tmp_path: Path) -> None:
    for row, field in (({"query": "x"}, "doc_id"), ({"doc_id": "d1", "query": " "}, "query")):
        queries = write_jsonl(tmp_path / "q.jsonl", [{"doc_id": "d1", "query": "ok"}, row])
        with pytest.raises(InputError, match=rf"q\.jsonl:2, field '{field}'"):
            make_triples(config_for(shared, tmp_path, queries=queries))


def test_queries_short_of_hits(shared: dict[str, Path], tmp_path: Path) -> None:
    queries = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"doc_id": "rare", "query": "quasar pressure"},  # "rare" and the pressure docs
            {"doc_id": "rare", "query": "quasar"},  # matches only its own document
            {"doc_id": "d1", "query": "the of and"},  # stop words: BM25 finds nothing
        ],
    )
    config = config_for(shared, tmp_path, queries=queries, negatives_per_query=25, depth=100)
    summary = make_triples(config)
    _, records = read_triples(config)
    assert summary.queries_searched == 3
    assert summary.without_negatives == 2  # "quasar" and the stop words
    assert summary.short == 1
    assert 0 < summary.triples == len(records) < 25
    assert {r["query"] for r in records} == {"quasar pressure"}
    assert summary.positive_in_top == 2


_KILLED_ON_THIRD_BATCH = """
import os, signal, sys
from inpars.artifacts import Appender
from inpars.triples import TriplesConfig, make_triples
calls = []
original = Appender.append

def die_mid_write(self, tsv, jsonl):
    calls.append(1)
    if len(calls) < 3:
        return original(self, tsv, jsonl)
    # The TSV and part of the JSON Lines reach the disk, then the process is killed.
    self._handles[0].write(tsv.encode())
    self._handles[1].write(jsonl.encode()[: len(jsonl) // 2])
    for handle in self._handles:
        handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

Appender.append = die_mid_write
make_triples(TriplesConfig(**eval(sys.argv[1])))
"""


def test_sigkill_mid_batch_then_resume_gives_the_same_files(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    full = config_for(shared, tmp_path / "full", negatives_per_query=3)
    make_triples(full)
    config = config_for(shared, tmp_path / "crash", negatives_per_query=3)
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_ON_THIRD_BATCH, repr(asdict(config))], check=False
    )
    assert child.returncode == -signal.SIGKILL
    summary = make_triples(config)
    assert summary.repaired_bytes > 0 and summary.already_done == 14  # two batches of 7
    assert Path(config.output).read_bytes() == Path(full.output).read_bytes()
    assert config.jsonl_path.read_bytes() == full.jsonl_path.read_bytes()
    # A rerun of the complete run does nothing; an output changed since is refused.
    assert make_triples(config).triples == 0
    Path(config.output).unlink()
    with pytest.raises(InparsError, match="changed after this run wrote it"):
        make_triples(config)


def test_resuming_with_other_settings_is_refused(shared: dict[str, Path], tmp_path: Path) -> None:
    config = config_for(shared, tmp_path, seed=1)
    make_triples(config)
    with pytest.raises(InparsError, match="setting seed: 1 -> 2"):
        make_triples(replace(config, seed=2))
    with pytest.raises(InparsError, match="setting depth: 30 -> 10"):
        make_triples(replace(config, depth=10))
    assert make_triples(replace(config, seed=2, overwrite=True)).triples > 0


def test_triples_without_a_manifest_are_not_appended_to(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    config = config_for(shared, tmp_path)
    Path(config.output).write_text("q\tpos\tneg\n")
    with pytest.raises(InparsError, match=r"has no triples\.tsv\.manifest\.json"):
        make_triples(config)
    assert Path(config.output).read_text() == "q\tpos\tneg\n"


def test_help_explains_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--depth", "--negatives-per-query", "--seed", "--k1", "--b", "--threads"):
        assert flag in text


def test_a_jsonl_corpus_with_its_own_field_names_through_the_command_line(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    """--id-field, --text-field and --title-field: the same documents in a JSON Lines file
    with other field names give the triples of the BEIR folder."""
    corpus = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"pid": i, "heading": title, "passage": text} for i, title, text in make_docs()],
    )
    beir = config_for(shared, tmp_path / "beir")
    out = tmp_path / "jsonl" / "triples.tsv"
    for folder in (tmp_path / "beir", out.parent):
        folder.mkdir()
    make_triples(beir)
    argv = ["--queries", str(shared["queries"]), "--corpus", str(corpus), "--output", str(out),
            "--id-field", "pid", "--text-field", "passage", "--title-field", "heading",
            "--depth", "30", "--threads", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert out.read_text() == Path(beir.output).read_text()
    assert out.with_suffix(".jsonl").read_text() == beir.jsonl_path.read_text()


def test_bm25_corpus_mines_negatives_from_the_expansion_with_the_corpus_texts(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    from inpars.merge import merge

    expanded = write_expansion(shared["corpus"], tmp_path, "d5", "aeroacoustic turbofan")
    queries = write_jsonl(
        tmp_path / "q.jsonl",
        [{"doc_id": "d0", "query": "aeroacoustic turbofan"}, {"doc_id": "d1", "query": "quasar"}],
    )
    plain = replace(
        config_for(shared, tmp_path / "plain", queries=queries), index=str(tmp_path / "i1")
    )
    Path(plain.output).parent.mkdir()
    assert make_triples(plain).without_negatives == 1  # only the expansion has those words
    config = replace(
        plain, bm25_corpus=str(expanded), output=str(tmp_path / "expanded.tsv"),
        index=str(tmp_path / "i2"),
    )  # fmt: skip
    summary = make_triples(config)
    assert summary.without_negatives == 0 and summary.triples == 2
    tsv, records = read_triples(config)
    assert (records[0]["neg_id"], records[0]["neg_rank"]) == ("d5", 1)
    texts = {doc.id: doc.contents for doc in read_corpus(shared["corpus"])}
    assert tsv[0] == ["aeroacoustic turbofan", texts["d0"], texts["d5"]]  # unexpanded texts
    before = Path(config.output).read_bytes()
    make_triples(config)  # the same run, complete: nothing to do
    assert Path(config.output).read_bytes() == before
    # Two shards merged are the unsharded run, and are it for a rerun too.
    parts = []
    for index in range(2):
        part = replace(config, output=str(tmp_path / f"part{index}.tsv"), shard=f"{index}/2")
        make_triples(part)
        parts.append(Path(part.output))
    merged = tmp_path / "merged.tsv"
    merge(parts, merged)
    assert merged.read_bytes() == Path(config.output).read_bytes()
    make_triples(replace(config, output=str(merged), jsonl=None))
    assert merged.read_bytes() == before


def test_triples_of_an_edited_corpus_are_refused_though_the_expansion_is_the_same(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    """With --bm25-corpus the texts come from --corpus: an input of its own."""
    corpus = write_beir_corpus(tmp_path / "corpus", make_docs())
    expanded = write_expansion(corpus, tmp_path, "d5", "aeroacoustic turbofan")
    config = replace(
        config_for(shared, tmp_path, bm25_corpus=str(expanded)), corpus=str(corpus),
        index=str(tmp_path / "index"),
    )  # fmt: skip
    make_triples(config)
    edited = [(i, title, text.replace("flow", "stream")) for i, title, text in make_docs()]
    write_beir_corpus(tmp_path / "corpus", edited)
    with pytest.raises(InparsError, match="corpus"):
        make_triples(config)


def test_a_bm25_corpus_of_other_documents_is_refused(
    shared: dict[str, Path], tmp_path: Path
) -> None:
    docs = make_docs()
    other = write_beir_corpus(tmp_path / "other", [*docs[:-1], ("stranger", "", "who")])
    with pytest.raises(InputError, match="'stranger' is not in --corpus") as error:
        make_triples(config_for(shared, tmp_path, bm25_corpus=str(other)))
    assert str(other / "corpus.jsonl") in str(error.value)
    fewer = write_beir_corpus(tmp_path / "fewer", docs[:-1])
    with pytest.raises(InputError, match="has no document 'x2'"):
        make_triples(config_for(shared, tmp_path, bm25_corpus=str(fewer)))
    # The same documents in another order are the same documents.
    shuffled = write_beir_corpus(tmp_path / "shuffled", docs[::-1])
    config = replace(
        config_for(shared, tmp_path, bm25_corpus=str(shuffled)), index=str(tmp_path / "i")
    )
    assert make_triples(config).triples == 43


def test_resuming_with_other_queries_is_refused(shared: dict[str, Path], tmp_path: Path) -> None:
    config = config_for(shared, tmp_path)
    make_triples(config)
    before = config.jsonl_path.read_bytes()
    other = write_jsonl(tmp_path / "other.jsonl", make_queries()[:5])
    with pytest.raises(InparsError, match=r"input queries changed \(sha256 "):
        make_triples(replace(config, queries=str(other)))
    assert config.jsonl_path.read_bytes() == before  # nothing appended
