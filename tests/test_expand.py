"""inpars.expand: document expansion with Doc2Query-- filtering (real MiniLM, real Lucene)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inpars.cli.expand import main
from inpars.corpus import read_corpus
from inpars.errors import InparsError, InputError
from inpars.expand import ExpandConfig, expand, expanded_text
from inpars.pair_scores import PairScorer

from conftest import write_beir_collection


def _write_queries(path: Path, rows: list[tuple[str, str, list[float]]]) -> Path:
    with path.open("w") as handle:
        for doc_id, query, log_probs in rows:
            record = {"doc_id": doc_id, "query": query, "log_probs": log_probs}
            handle.write(json.dumps(record) + "\n")
    return path


def _corpus_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]


def test_expanded_text_is_the_documented_join() -> None:
    assert expanded_text("Wing flutter.\n", ["what is  flutter", "wing\tloads"]) == (
        "Wing flutter. what is flutter wing loads"
    )
    assert expanded_text("unchanged  text \n", []) == "unchanged  text \n"
    assert expanded_text("", ["a query"]) == "a query"


def test_expansion_appends_queries_keeps_order_titles_and_collection(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    queries = _write_queries(
        tmp_path / "q.jsonl",
        [
            ("d0-0", "flutter of wings", [-0.1]),
            ("d2-1", "shock waves in air", [-0.2]),
            ("d0-0", "aeroelastic  instability", [-0.3]),
            ("d2-1", "   ", [-0.1]),
        ],
    )
    summary = expand(ExpandConfig(str(collection), str(queries), str(tmp_path / "out")))
    before, after = _corpus_records(collection), _corpus_records(tmp_path / "out")
    assert [r["_id"] for r in after] == [r["_id"] for r in before]
    by_id = {r["_id"]: r for r in before}
    for record in after:
        original = by_id[record["_id"]]
        assert record["title"] == original["title"]
        if record["_id"] == "d0-0":
            assert record["text"] == (
                original["text"].rstrip() + " flutter of wings aeroelastic instability"
            )
        elif record["_id"] == "d2-1":
            assert record["text"] == original["text"].rstrip() + " shock waves in air"
        else:
            assert record == original
    assert (tmp_path / "out" / "queries.jsonl").read_bytes() == (
        collection / "queries.jsonl"
    ).read_bytes()
    assert (tmp_path / "out" / "qrels" / "test.tsv").is_file()
    assert (summary.documents, summary.expanded_documents, summary.empty_queries) == (30, 2, 1)
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["inputs"]["queries"]["sha256"]


def test_drop_fraction_drops_the_globally_lowest_pairs(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    # d0-0's queries are all worse than every query of d1-0: a global threshold drops them
    # all, a per-document quota would not.
    rows = [
        ("d0-0", "alpha one", [-3.0]),
        ("d0-0", "alpha two", [-2.0, -2.0]),
        ("d1-0", "beta one", [-0.5]),
        ("d1-0", "beta two", [-0.1, -0.3]),
        ("d1-0", "beta three", [-1.0]),
        ("d2-0", "gamma one", [-1.5]),
    ]
    queries = _write_queries(tmp_path / "q.jsonl", rows)
    config = ExpandConfig(
        str(collection), str(queries), str(tmp_path / "out"), drop_fraction=0.5, scorer="log-probs"
    )
    summary = expand(config)
    texts = {r["_id"]: r["text"] for r in _corpus_records(tmp_path / "out")}
    assert summary.pairs_dropped == 3 and summary.threshold == -1.5
    assert "alpha" not in texts["d0-0"] and "gamma" not in texts["d2-0"]
    assert texts["d1-0"].endswith(" beta one beta two beta three")


def test_bi_encoder_drops_the_query_unrelated_to_its_document(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    rows = [
        ("d0-0", "wing flutter study", [-1.0]),
        ("d0-0", "chocolate cake recipe with butter", [-1.0]),
        ("d1-0", "heat transfer study", [-1.0]),
        ("d3-0", "boundary layer study", [-1.0]),
    ]
    queries = _write_queries(tmp_path / "q.jsonl", rows)
    out = tmp_path / "out"
    summary = expand(ExpandConfig(str(collection), str(queries), str(out), drop_fraction=0.25))
    texts = {r["_id"]: r["text"] for r in _corpus_records(out)}
    assert summary.pairs_dropped == 1
    assert "chocolate" not in texts["d0-0"] and "wing flutter study" in texts["d0-0"]
    scores = [json.loads(line) for line in Path(f"{out}.scores.jsonl").read_text().splitlines()]
    assert min(scores, key=lambda r: r["score"])["line"] == 2
    assert summary.threshold == min(r["score"] for r in scores)


def test_bm25_over_the_expansion_finds_a_document_by_its_queries_words(tmp_path: Path) -> None:
    from inpars.bm25 import Bm25Searcher, ensure_index

    collection = write_beir_collection(tmp_path / "c")
    queries = _write_queries(tmp_path / "q.jsonl", [("d4-3", "aeroacoustic turbofan", [-1.0])])
    expand(ExpandConfig(str(collection), str(queries), str(tmp_path / "out")))
    original = ensure_index(read_corpus(collection), tmp_path / "index-original")
    expanded = ensure_index(read_corpus(tmp_path / "out"), tmp_path / "index-expanded")
    with Bm25Searcher(original.path) as searcher:
        assert len(searcher.search("aeroacoustic turbofan", 10)) == 0
    with Bm25Searcher(expanded.path) as searcher:
        hits = searcher.search("aeroacoustic turbofan", 10)
        assert [hit.doc_id for hit in hits] == ["d4-3"]


def test_resume_after_a_crash_equals_the_uninterrupted_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = write_beir_collection(tmp_path / "c")
    rows = [
        (f"d{t}-{i}", f"query {t} {i} about topic {t}", [-1.0]) for t in range(6) for i in (0, 2)
    ]
    queries = _write_queries(tmp_path / "q.jsonl", rows)

    def config(out: Path) -> ExpandConfig:
        return ExpandConfig(
            str(collection), str(queries), str(out), drop_fraction=0.3, pairs_per_commit=3
        )

    expand(config(tmp_path / "whole"))
    real_score = PairScorer.score
    calls = []

    def crashing(self, queries, documents, batch_size=32):
        calls.append(len(queries))
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while scoring the third batch
        return real_score(self, queries, documents, batch_size)

    monkeypatch.setattr(PairScorer, "score", crashing)
    with pytest.raises(KeyboardInterrupt):
        expand(config(tmp_path / "resumed"))
    scores_file = Path(f"{tmp_path / 'resumed'}.scores.jsonl")
    assert len(scores_file.read_text().splitlines()) == 6
    with scores_file.open("a") as handle:  # a kill mid-write leaves half a line
        handle.write('{"line": 99, "doc')
    monkeypatch.setattr(PairScorer, "score", real_score)
    summary = expand(config(tmp_path / "resumed"))
    assert summary.pairs_scored == 6
    assert (tmp_path / "resumed" / "corpus.jsonl").read_bytes() == (
        tmp_path / "whole" / "corpus.jsonl"
    ).read_bytes()
    assert len(scores_file.read_text().splitlines()) == len(rows)


def test_drop_fractions_into_other_outputs_share_one_scores_file(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    rows = [
        (f"d{t}-{i}", f"query {t} {i} about topic {t}", [-1.0]) for t in range(4) for i in (0, 1)
    ]
    queries = _write_queries(tmp_path / "q.jsonl", rows)
    scores = tmp_path / "scores.jsonl"

    def run(fraction: float, out: str, scores_file: Path | None) -> object:
        return expand(
            ExpandConfig(
                str(collection),
                str(queries),
                str(tmp_path / out),
                drop_fraction=fraction,
                scores=None if scores_file is None else str(scores_file),
            )
        )

    first = run(0.25, "d25", scores)
    second = run(0.5, "d50", scores)
    assert (first.pairs_scored, second.pairs_scored) == (len(rows), 0)  # scored once
    assert (first.pairs_dropped, second.pairs_dropped) == (2, 4)
    alone = run(0.5, "d50-alone", None)  # its own <output>.scores.jsonl: scored again
    assert alone.pairs_scored == len(rows)
    assert (tmp_path / "d50" / "corpus.jsonl").read_bytes() == (
        tmp_path / "d50-alone" / "corpus.jsonl"
    ).read_bytes()


def test_other_settings_or_inputs_are_refused_and_overwrite_starts_again(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    queries = _write_queries(tmp_path / "q.jsonl", [("d0-0", "flutter", [-1.0])])
    out = str(tmp_path / "out")
    expand(ExpandConfig(str(collection), str(queries), out, drop_fraction=0.5, scorer="log-probs"))
    with pytest.raises(InparsError, match=r"setting drop_fraction: 0\.5 -> 0\.2"):
        expand(ExpandConfig(str(collection), str(queries), out, drop_fraction=0.2))
    _write_queries(queries, [("d0-0", "flutter", [-1.0]), ("d1-0", "heat", [-1.0])])
    with pytest.raises(InparsError, match=r"input queries changed \(sha256"):
        expand(
            ExpandConfig(str(collection), str(queries), out, drop_fraction=0.5, scorer="log-probs")
        )
    summary = expand(
        ExpandConfig(str(collection), str(queries), out, drop_fraction=0.5, scorer="log-probs"),
        overwrite=True,
    )
    assert summary.pairs_dropped == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "corpus.jsonl").write_text("")
    with pytest.raises(InparsError, match="overwrite"):
        expand(ExpandConfig(str(collection), str(queries), str(tmp_path / "mine")))


def test_published_inpars_v1_and_v2_queries_are_read(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    v1 = tmp_path / "v1.jsonl"
    v1.write_text(
        json.dumps(
            {
                "doc_id": "d0-0",
                "doc_text": "x",
                "question": "what is flutter\nExample 4:",
                "log_probs": [-0.2, -0.4],
            }
        )
        + "\n"
    )
    v2 = tmp_path / "v2.jsonl"
    v2.write_text(
        json.dumps(
            {
                "doc_id": "d1-0",
                "text": "x",
                "query": "how is heat moved",
                "log_probs": [-0.1],
                "prompt_text": "p",
                "fewshot_examples": [1, 2],
            }
        )
        + "\n"
    )
    expand(ExpandConfig(str(collection), str(v1), str(tmp_path / "o1"), scorer="log-probs"))
    expand(ExpandConfig(str(collection), str(v2), str(tmp_path / "o2")))
    one = {r["_id"]: r["text"] for r in _corpus_records(tmp_path / "o1")}
    two = {r["_id"]: r["text"] for r in _corpus_records(tmp_path / "o2")}
    assert one["d0-0"].endswith(" what is flutter")
    assert two["d1-0"].endswith(" how is heat moved")


def test_jsonl_and_tsv_corpora_keep_their_format(tmp_path: Path) -> None:
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "contents": "first doc", "year": 1990})
        + "\n"
        + json.dumps({"id": "b", "contents": "second doc"})
        + "\n"
    )
    tsv = tmp_path / "docs.tsv"
    tsv.write_text("a\tTitle A\tfirst doc\nb\tsecond doc\n")
    queries = _write_queries(tmp_path / "q.jsonl", [("a", "new words", [-1.0])])
    expand(ExpandConfig(str(jsonl), str(queries), str(tmp_path / "out.jsonl")))
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines[0] == {"id": "a", "contents": "first doc new words", "year": 1990}
    assert lines[1] == {"id": "b", "contents": "second doc"}
    assert (
        main(
            [
                "--corpus",
                str(tsv),
                "--queries",
                str(queries),
                "--output",
                str(tmp_path / "out.tsv"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "out.tsv").read_text() == "a\tTitle A\tfirst doc new words\nb\tsecond doc\n"


def test_cli_reads_a_corpus_with_custom_fields_and_a_format_its_name_does_not_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --corpus-format is the input's format (the shared corpus flags); the output has it too.
    corpus = tmp_path / "docs.txt"
    corpus.write_text(
        json.dumps({"pid": "a", "body": "first doc", "head": "A"})
        + "\n"
        + json.dumps({"pid": "b", "body": "second doc"})
        + "\n"
    )
    queries = _write_queries(tmp_path / "q.jsonl", [("a", "new  words", [-1.0])])
    out = tmp_path / "out.txt"
    fields = ["--id-field", "pid", "--text-field", "body", "--title-field", "head"]
    argv = ["--corpus", str(corpus), "--queries", str(queries), "--output", str(out), "--quiet"]
    assert main([*argv, "--corpus-format", "jsonl", *fields]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines == [
        {"pid": "a", "body": "first doc new words", "head": "A"},
        {"pid": "b", "body": "second doc"},
    ]
    capsys.readouterr()
    # A format expand cannot write back is an error message, not a traceback.
    csv = tmp_path / "docs.csv"
    csv.write_text("pid,body\na,first doc\n")
    argv[1], argv[5] = str(csv), str(tmp_path / "out.csv")
    assert main([*argv, "--id-field", "pid", "--text-field", "body"]) == 2
    assert "expand writes beir, jsonl, tsv corpora" in capsys.readouterr().err


def test_a_query_for_an_unknown_document_is_an_error_naming_its_line(tmp_path: Path) -> None:
    collection = write_beir_collection(tmp_path / "c")
    queries = _write_queries(
        tmp_path / "q.jsonl", [("d0-0", "fine", [-1.0]), ("nope", "lost", [-1.0])]
    )
    with pytest.raises(InputError, match=r"q\.jsonl:2.*doc_id.*'nope'"):
        expand(ExpandConfig(str(collection), str(queries), str(tmp_path / "out")))


def test_sigkill_mid_scoring_then_the_same_command_gives_the_uninterrupted_output(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    collection = write_beir_collection(tmp_path / "c")
    rows = [(f"d{t}-{i}", f"q{n} on topic {t} doc {i}", [-1.0]) for n in range(4)
            for t in range(6) for i in range(5)]  # fmt: skip
    queries = _write_queries(tmp_path / "q.jsonl", rows)

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "inpars.expand", "--corpus", str(collection), "--queries",
                str(queries), "--output", str(out), "--drop-fraction", "0.4",
                "--pairs-per-commit", "1", "--quiet"]  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    killed = tmp_path / "killed"
    scores = Path(f"{killed}.scores.jsonl")
    process = subprocess.Popen(command(killed), env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if scores.is_file() and len(scores.read_bytes().splitlines()) >= 20:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "corpus.jsonl").exists()
    subprocess.run(command(killed), env=env, check=True)
    subprocess.run(command(tmp_path / "whole"), env=env, check=True)
    assert (killed / "corpus.jsonl").read_bytes() == (
        tmp_path / "whole" / "corpus.jsonl"
    ).read_bytes()
    lines = [json.loads(x)["line"] for x in scores.read_text().splitlines()]
    assert sorted(lines) == list(range(1, len(rows) + 1))  # each pair scored once
