"""Readers for the InPars authors' published queries (v1 and v2 schemas), and their flow into
inpars.filter and inpars.triples; the stage manifests those write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inpars.artifacts import file_sha256, manifest_path, read_manifest
from inpars.cli.published import main
from inpars.errors import InparsError, InputError
from inpars.filter import FilterConfig, filter_queries
from inpars.published import RecordNormalizer, detect_format, read_generated_queries
from inpars.triples import TriplesConfig, make_triples, read_query_rows

from conftest import write_beir_corpus

DOCS = [
    ("d1", "Aspirin", "aspirin lowers the risk of heart attack in older adults"),
    ("d2", "", "vitamin d supplements and bone density in postmenopausal women"),
    ("d3", "Sleep", "short sleep duration is linked to obesity in children"),
    ("4", "", "green tea catechins and liver enzymes in a randomised trial"),
    ("d5", "Coffee", "coffee drinking and the risk of type 2 diabetes"),
    ("d6", "", "statins reduce cholesterol but may raise blood sugar"),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def v1_rows() -> list[dict[str, Any]]:
    """InPars v1 (generate_queries_openai.py): the API text starts with a space and may run on
    past a newline; the GBQ prompt adds bad_question."""
    return [
        {"doc_id": "d1", "doc_text": DOCS[0][2], "question": " does aspirin prevent heart "
         "attacks\nExample 4:", "log_probs": [-0.2, -0.1, -0.3, -0.4, -0.2]},
        {"doc_id": "d2", "doc_text": DOCS[1][2], "question": "vitamin d and bone density",
         "log_probs": [-0.5, -0.9, -0.7, -0.6, -0.5], "bad_question": "what is vitamin d"},
        {"doc_id": "d3", "doc_text": DOCS[2][2], "question": " why do kids sleep",
         "log_probs": [-2.5, -2.0, -3.0, -2.2]},
        {"doc_id": 4, "doc_text": DOCS[3][2], "question": " green tea and the liver",
         "log_probs": [-0.3, -0.3, -0.2, -0.4, -0.1]},
        {"doc_id": "d5", "doc_text": DOCS[4][2], "question": " ", "log_probs": []},
        {"doc_id": "d6", "doc_text": DOCS[5][2], "question": "Does aspirin prevent heart "
         "attacks?", "log_probs": [-1.0, -1.0, -1.0, -1.0, -1.0]},
    ]  # fmt: skip


def v2_rows() -> list[dict[str, Any]]:
    """The InPars toolkit (v2): pandas wrote the corpus columns (text) and numeric ids."""
    prompt = "Example 1:\nDocument: ...\nRelevant Query: ...\n\nExample 2:\nDocument: {}\n"
    return [
        {"doc_id": "d1", "text": DOCS[0][2], "query": "aspirin and heart attack risk",
         "log_probs": [-0.1, -0.2, -0.1, -0.3, -0.2], "prompt_text": prompt.format(DOCS[0][2]),
         "fewshot_examples": [1185869, 1185868]},
        {"doc_id": "d3", "text": DOCS[2][2], "query": "sleep duration childhood obesity",
         "log_probs": [-0.4, -0.6, -0.5, -0.2], "prompt_text": prompt.format(DOCS[2][2]),
         "fewshot_examples": [1185869, 1185868]},
        {"doc_id": 4, "text": DOCS[3][2], "query": "green tea catechins liver",
         "log_probs": [-0.3, -0.3, -0.4, -0.5], "prompt_text": prompt.format(DOCS[3][2]),
         "fewshot_examples": [1185869, 1185868]},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_corpus(tmp_path_factory.mktemp("published") / "corpus", DOCS)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"doc_id": "1", "question": "q", "log_probs": [-1.0]}, "inpars-v1"),
        ({"doc_id": "1", "question": "q", "log_probs": -1.0, "doc_text": "d"}, "inpars-v1"),
        ({"doc_id": "1", "query": "q", "log_probs": [-1.0], "prompt_text": "p"}, "inpars-v2"),
        ({"doc_id": 1, "query": "q", "text": "document", "fewshot_examples": []}, "inpars-v2"),
        ({"doc_id": "1", "query": "q", "log_probs": [-1.0], "tokens": ["q"]}, "inpars"),
        ({"doc_id": "1", "query": "q"}, "inpars"),
        ({"doc_id": "1", "query": "q", "tokens": ["q"], "prompt": "p"}, "inpars"),
        ({"doc_id": "1", "text": "q"}, None),
        # Already normalised (by inpars): never re-detected, whatever fields it kept.
        ({"doc_id": "1", "query": "q", "doc_text": "d", "source_format": "inpars-v1"}, "inpars"),
        (
            {"doc_id": "1", "query": "q", "fewshot_ids": ["7"], "prompt_text": "p",
             "source_format": "inpars-v2"},
            "inpars",
        ),
    ],
)
def test_detect_format(record: dict[str, Any], expected: str | None) -> None:
    assert detect_format(record) == expected


def test_v1_records_are_normalised(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "v1.jsonl", v1_rows())
    records = dict(read_generated_queries(path))
    first = records[1]
    # Cut at the first line break (where v1's log-probs stop) and stripped.
    assert first["query"] == "does aspirin prevent heart attacks"
    assert "question" not in first and first["source_format"] == "inpars-v1"
    assert first["log_probs"] == [-0.2, -0.1, -0.3, -0.4, -0.2] and "tokens" not in first
    assert first["doc_text"] == DOCS[0][2]
    assert records[2]["bad_question"] == "what is vitamin d"
    assert records[4]["doc_id"] == "4"  # numeric ids become strings
    assert records[5]["query"] == ""


def test_v1_filtered_file_gives_its_score(tmp_path: Path) -> None:
    # filter_queries_by_score.py replaced log_probs by their mean.
    rows = [{"doc_id": "d1", "doc_text": "t", "question": "q one", "log_probs": -0.25}]
    ((_, record),) = read_generated_queries(write_jsonl(tmp_path / "f.jsonl", rows))
    assert record["score"] == -0.25 and "log_probs" not in record
    bad = [{"doc_id": "d1", "question": "q", "log_probs": "high"}]
    with pytest.raises(InputError, match="log_probs"):
        list(read_generated_queries(write_jsonl(tmp_path / "bad.jsonl", bad)))


def test_v2_records_are_normalised(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "v2.jsonl", v2_rows())
    records = [record for _, record in read_generated_queries(path)]
    assert [r["doc_id"] for r in records] == ["d1", "d3", "4"]
    assert records[0]["fewshot_ids"] == ["1185869", "1185868"]
    assert "fewshot_examples" not in records[0] and "text" not in records[0]
    assert records[0]["doc_text"] == DOCS[0][2] and records[0]["prompt_text"].startswith("Ex")
    assert all(r["source_format"] == "inpars-v2" for r in records)


def test_inpars_records_pass_through_unchanged() -> None:
    record = {"doc_id": "d1", "query": "q", "log_probs": [-1.0], "tokens": ["q"], "x": 1}
    assert RecordNormalizer("f.jsonl")(record, 1) is record


def test_unknown_schema_names_file_line_and_fields(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "odd.jsonl", [{"id": "d1", "q": "what", "probs": [-1]}])
    with pytest.raises(InputError) as info:
        list(read_generated_queries(path))
    message = str(info.value)
    assert message.startswith(f"{path}:1: unknown record schema")
    assert "'question' (InPars v1)" in message and "id, probs, q" in message


def test_a_record_off_the_files_schema_names_its_field(tmp_path: Path) -> None:
    rows = [v1_rows()[0], {"doc_id": "d2", "query": "a v2-style record in a v1 file"}]
    with pytest.raises(InputError) as info:
        list(read_generated_queries(write_jsonl(tmp_path / "mixed.jsonl", rows)))
    assert (info.value.line, info.value.field) == (2, "question")
    no_id = [{"question": "where is the doc id"}]
    with pytest.raises(InputError, match="missing doc_id"):
        list(read_generated_queries(write_jsonl(tmp_path / "noid.jsonl", no_id)))


def test_filter_reads_inpars_v1_directly(tmp_path: Path, corpus: Path) -> None:
    source = write_jsonl(tmp_path / "v1.jsonl", v1_rows())
    output = tmp_path / "kept.jsonl"
    summary = filter_queries(
        FilterConfig(input=str(source), output=str(output), corpus=str(corpus), min_words=3)
    )
    # No tokens in v1 records: nothing is invalid for lacking them.
    assert (summary.read, summary.invalid, summary.empty) == (6, 0, 1)
    assert summary.too_short == 0 and summary.duplicate == 1  # d6 repeats d1's question
    assert summary.input_format == "inpars-v1" and summary.kept == 4
    kept = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["doc_id"] for r in kept] == ["d1", "4", "d2", "d3"]  # best mean log-prob first
    assert kept[0]["query"] == "does aspirin prevent heart attacks"
    assert kept[0]["score"] == pytest.approx(-0.24)
    manifest = read_manifest(manifest_path(output))
    assert manifest["stage"] == "filter" and manifest["status"] == "complete"
    assert manifest["input_format"] == "inpars-v1"
    assert manifest["inputs"]["queries"]["sha256"] == file_sha256(source)
    assert manifest["output"]["sha256"] == file_sha256(output)
    assert manifest["output"]["records"] == 4 and manifest["summary"]["duplicate"] == 1


def test_filter_needs_per_token_log_probs(tmp_path: Path) -> None:
    rows = [{"doc_id": "d1", "question": "a filtered v1 query", "log_probs": -0.3}]
    source = write_jsonl(tmp_path / "v1-filtered.jsonl", rows)
    with pytest.raises(InputError) as info:
        filter_queries(FilterConfig(input=str(source), output=str(tmp_path / "o.jsonl")))
    assert info.value.field == "log_probs" and info.value.line == 1


def test_filter_skips_records_of_unknown_schema_when_asked(tmp_path: Path) -> None:
    rows = [{"id": "x", "q": "?"}, *v2_rows()]
    source = write_jsonl(tmp_path / "v2.jsonl", rows)
    summary = filter_queries(
        FilterConfig(input=str(source), output=str(tmp_path / "o.jsonl"), skip_invalid=True)
    )
    assert (summary.read, summary.invalid, summary.kept) == (4, 1, 3)
    assert summary.input_format == "inpars-v2"
    assert "unknown record schema" in summary.invalid_examples[0]


def test_a_stale_filter_manifest_is_replaced(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "v2.jsonl", v2_rows())
    output = tmp_path / "o.jsonl"
    manifest_path(output).write_text('{"stage": "filter", "status": "complete"}')
    with pytest.raises(InparsError, match="unknown score"):
        filter_queries(FilterConfig(input=str(source), output=str(output), score="nope"))
    assert manifest_path(output).exists()  # bad settings fail before anything changes
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"doc_id": "d1", "query": "q", "log_probs": 1}])
    with pytest.raises(InputError):
        filter_queries(FilterConfig(input=str(bad), output=str(output)))
    # The failed run's manifest says it never completed (the stale one said "complete").
    assert read_manifest(manifest_path(output))["status"] == "running"


def test_v2_queries_flow_through_filter_into_triples(tmp_path: Path, corpus: Path) -> None:
    source = write_jsonl(tmp_path / "v2.jsonl", v2_rows())
    filtered = tmp_path / "filtered.jsonl"
    filter_queries(FilterConfig(input=str(source), output=str(filtered), corpus=str(corpus)))
    config = TriplesConfig(
        queries=str(filtered),
        corpus=str(corpus),
        output=str(tmp_path / "triples.tsv"),
        depth=10,
        threads=1,
    )
    summary = make_triples(config)
    records = [json.loads(line) for line in config.jsonl_path.read_text().splitlines()]
    assert summary.queries_searched == 3 and len(records) == summary.triples > 0
    assert {r["pos_id"] for r in records} <= {"d1", "d3", "4"}
    assert all(r["neg_id"] != r["pos_id"] and r["query_score"] < 0 for r in records)
    manifest = read_manifest(manifest_path(config.output))
    assert manifest["stage"] == "triples" and manifest["status"] == "complete"
    assert manifest["inputs"]["queries"]["sha256"] == file_sha256(filtered)
    assert manifest["outputs"]["tsv"]["sha256"] == file_sha256(config.output)
    assert manifest["outputs"]["jsonl"]["sha256"] == file_sha256(config.jsonl_path)
    assert manifest["index"]["documents"] == len(DOCS)
    assert manifest["config"]["depth"] == 10 and manifest["summary"]["triples"] == len(records)
    # Published v1 files go to triples as they are, their stored score included.
    v1_filtered = [
        {"doc_id": "d5", "doc_text": DOCS[4][2], "question": " coffee and heart risk\nEx",
         "log_probs": -0.3},
        {"doc_id": 4, "doc_text": DOCS[3][2], "question": "tea and blood sugar", "log_probs": -0.5},
    ]  # fmt: skip
    rows = list(read_query_rows(str(write_jsonl(tmp_path / "v1f.jsonl", v1_filtered))))
    assert [(r.query, r.doc_id, r.score) for r in rows] == [
        ("coffee and heart risk", "d5", -0.3),
        ("tea and blood sugar", "4", -0.5),
    ]
    summary = make_triples(
        TriplesConfig(
            queries=str(tmp_path / "v1f.jsonl"),
            corpus=str(corpus),
            output=str(tmp_path / "v1-triples.tsv"),
            index=str(tmp_path / "triples.bm25-index"),  # reuses the index built above
            depth=10,
            threads=1,
        )
    )
    assert summary.index_reused and summary.triples == 2


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = write_jsonl(tmp_path / "v1.jsonl", v1_rows())
    output = tmp_path / "converted.jsonl"
    assert main(["--input", str(source), "--output", str(output)]) == 0
    converted = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(converted) == 6 and all("question" not in r for r in converted)
    assert converted[3]["doc_id"] == "4" and converted[0]["source_format"] == "inpars-v1"
    assert "6 inpars-v1 records" in " ".join(capsys.readouterr().err.split())
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"a": 1}])
    assert main(["--input", str(odd), "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "unknown record schema" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "x.jsonl").exists()


def test_v1_provenance_survives_filter_and_publish(tmp_path: Path, corpus: Path) -> None:
    # A record normalised from v1 keeps doc_text and has no tokens; it was once re-detected
    # as InPars-v2 downstream, and the card said "converted from the inpars-v2 format".
    from inpars.publish import PublishConfig, publish

    source = write_jsonl(tmp_path / "v1.jsonl", v1_rows())
    kept = tmp_path / "kept.jsonl"
    filter_queries(FilterConfig(input=str(source), output=str(kept), corpus=str(corpus)))
    assert read_manifest(manifest_path(kept))["input_format"] == "inpars-v1"
    again = tmp_path / "again.jsonl"  # filtering filtered records: they are inpars records
    summary = filter_queries(FilterConfig(input=str(kept), output=str(again), keep_top_k=3))
    assert summary.input_format == "inpars"
    assert read_manifest(manifest_path(again))["input_format"] == "inpars"
    assert {json.loads(line)["source_format"] for line in again.read_text().splitlines()} == {
        "inpars-v1"
    }
    bundle = tmp_path / "ds"
    publish(PublishConfig(queries=str(again), output=str(bundle), license="cc-by-4.0",
                          allow_missing_manifests=True))  # fmt: skip
    published = [json.loads(line) for line in (bundle / "queries.jsonl").read_text().splitlines()]
    assert {record["source_format"] for record in published} == {"inpars-v1"}
    assert json.loads((bundle / "stats.json").read_text())["source_format"] == "inpars-v1"
    card = (bundle / "README.md").read_text()
    assert "converted from the `inpars-v1` format" in card and "inpars-v2" not in card
