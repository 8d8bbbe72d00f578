"""Filtering synthetic queries: scores, cleaning rules, top-k with a per-document cap, bad input."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inpars.cli.filter import main
from inpars.errors import InparsError, InputError
from inpars.filter import (
    FilterConfig,
    TopK,
    check_record,
    filter_queries,
    is_copied,
    mean_log_probs,
    mean_probs,
    normalize_words,
    normalized_document,
    sum_log_probs,
)

from conftest import write_beir_corpus


def record(doc_id: str, query: str, log_probs: list[float], **extra: Any) -> dict[str, Any]:
    tokens = [f"t{i}" for i in range(len(log_probs))]
    return {"doc_id": doc_id, "query": query, "log_probs": log_probs, "tokens": tokens, **extra}


def write_jsonl(path: Path, records: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for item in records:
            handle.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(tmp_path: Path, records: list[Any], **options: Any):
    source = write_jsonl(tmp_path / "in.jsonl", records)
    output = tmp_path / "out.jsonl"
    options.setdefault("min_words", 1)
    options.setdefault("overwrite", True)  # each call is a fresh run into the same output
    summary = filter_queries(FilterConfig(input=str(source), output=str(output), **options))
    return summary, read_jsonl(output)


# --- scores, by hand ----------------------------------------------------------------------


def test_scores_by_hand() -> None:
    log_probs = [-1.0, -2.0]
    assert sum_log_probs(log_probs) == -3.0
    assert mean_log_probs(log_probs) == -1.5
    # (e^-1 + e^-2) / 2 = (0.36787944 + 0.13533528) / 2
    assert mean_probs(log_probs) == pytest.approx(0.25160736, abs=1e-8)


def test_scores_of_certain_tokens() -> None:
    assert sum_log_probs([0.0, 0.0, 0.0]) == 0.0
    assert mean_log_probs([0.0, 0.0, 0.0]) == 0.0
    assert mean_probs([0.0, 0.0, 0.0]) == 1.0


def test_scores_rank_differently() -> None:
    # A short unlikely query against a long, mostly likely one with one bad token.
    short = [-2.0]
    long = [-0.1, -0.1, -0.1, -0.1, -5.0]
    assert sum_log_probs(short) > sum_log_probs(long)  # -2 > -5.4
    assert mean_log_probs(short) < mean_log_probs(long)  # -2 < -1.08
    assert mean_probs(long) == pytest.approx((4 * math.exp(-0.1) + math.exp(-5)) / 5)


# --- normalisation and the copy rule -------------------------------------------------------


def test_normalize_words() -> None:
    assert normalize_words("What is  BM25?") == ["what", "is", "bm25"]
    assert normalize_words("ＭＡＣＨ number, Straße") == ["mach", "number", "strasse"]
    assert normalize_words("  ?! ") == []


def test_is_copied() -> None:
    document = normalized_document(
        "The boundary layer on a flat plate. Transition to turbulence occurs at high Reynolds."
    )
    copied = normalize_words("Transition to turbulence occurs at high Reynolds")
    assert is_copied(copied, document, threshold=0.75, min_words=4)
    # 4 of 8 words verbatim: below 0.75 of the query.
    partly = normalize_words("why does transition to turbulence occur in pipes")
    assert not is_copied(partly, document, threshold=0.75, min_words=4)
    assert is_copied(partly, normalized_document("does transition to turbulence"), 0.4, 3)
    # Short keyword queries are never copies, and threshold 0 turns the rule off.
    assert not is_copied(normalize_words("boundary layer"), document, 0.75, 4)
    assert not is_copied(copied, document, threshold=0.0, min_words=4)
    # Word boundaries: "at high" must not match inside "that higher".
    assert not is_copied(["at", "high", "re"], normalized_document("that higher rey"), 0.5, 1)


# --- record checks -------------------------------------------------------------------------


def test_check_record_accepts_a_generation_record() -> None:
    checked = check_record(record("7", "a query", [-0.5, -0.25]), "f.jsonl", 3)
    assert (checked.doc_id, checked.query, checked.log_probs) == ("7", "a query", [-0.5, -0.25])
    assert check_record({"doc_id": 7, "query": "q", "log_probs": [-1]}, "f", 1).doc_id == "7"


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ({"doc_id": "1", "query": "q"}, "log_probs", "missing"),
        ({"doc_id": "1", "query": "q", "log_probs": "-1"}, "log_probs", "list"),
        ({"doc_id": "1", "query": "q", "log_probs": [-1, "x"]}, "log_probs", "value 1"),
        ({"doc_id": "1", "query": "q", "log_probs": [float("nan")]}, "log_probs", "nan"),
        ({"doc_id": "1", "query": "q", "log_probs": [-1.0, -math.inf]}, "log_probs", "value 1"),
        ({"doc_id": "1", "query": "q", "log_probs": [-math.inf]}, "log_probs", "finite"),
        ({"doc_id": "1", "query": "q", "log_probs": [0.5]}, "log_probs", "<= 0"),
        (
            {"doc_id": "1", "query": "q", "log_probs": [-1.0], "tokens": ["a", "b"]},
            "log_probs",
            "2 tokens but 1 log_probs",
        ),
        ({"query": "q", "log_probs": [-1]}, "doc_id", "missing"),
        ({"doc_id": "1", "log_probs": [-1]}, "query", "missing"),
        ({"doc_id": "1", "query": 3, "log_probs": [-1]}, "query", "string"),
    ],
)
def test_check_record_names_file_line_and_field(bad: dict, field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        check_record(bad, "gen.jsonl", 12)
    assert caught.value.line == 12
    assert caught.value.field == field
    assert str(caught.value).startswith(f"gen.jsonl:12, field '{field}'")
    assert words in str(caught.value)


# --- the whole filter ----------------------------------------------------------------------


def test_each_cleaning_rule_is_counted(tmp_path: Path) -> None:
    corpus = write_beir_corpus(
        tmp_path / "corpus",
        [
            ("d1", "Heat", "heat transfer in laminar boundary layers over flat plates"),
            ("d2", "", "supersonic flow past a cone"),
        ],
    )
    records = [
        record("d1", "   ", [-0.1]),  # empty
        record("d1", "heat", [-0.1]),  # too short (1 word < 2)
        record("d1", "w " * 12, [-0.1] * 12),  # too long (12 words > 10)
        record("d1", "heat transfer in laminar boundary layers", [-0.1] * 6),  # copied
        record("d2", "what limits supersonic cone flow", [-0.5] * 5),  # kept
        record("d2", "What limits supersonic cone flow?", [-0.2] * 5),  # better duplicate
        record("d1", "how is heat moved near walls", [-0.3] * 6),  # kept
    ]
    summary, kept = run(
        tmp_path, records, min_words=2, max_words=10, corpus=str(corpus), keep_top_k=10
    )
    assert (summary.read, summary.empty, summary.too_short, summary.too_long) == (7, 1, 1, 1)
    assert (summary.copied, summary.duplicate, summary.kept) == (1, 1, 2)
    assert [r["query"] for r in kept] == [
        "What limits supersonic cone flow?",
        "how is heat moved near walls",
    ]
    assert kept[0]["score"] == pytest.approx(-0.2)
    assert summary.copies_checked


def test_output_is_the_input_records_plus_score_best_first(tmp_path: Path) -> None:
    records = [
        record("a", "first query here", [-1.0, -1.0], model="m", custom={"x": 1}),
        record("b", "second query here", [-0.5, -0.5], model="m"),
        record("c", "third query here", [-2.0], model="m"),
    ]
    summary, kept = run(tmp_path, records, score="mean_log_probs")
    assert [r["doc_id"] for r in kept] == ["b", "a", "c"]
    assert kept[1] == {**records[0], "score": -1.0}  # unknown keys kept, nothing lost
    assert summary.kept == 3 and summary.best_score == -0.5 and summary.worst_kept_score == -2.0


def test_score_choice_changes_the_order(tmp_path: Path) -> None:
    records = [record("a", "short one", [-2.0]), record("b", "longer one", [-0.1] * 4 + [-5.0])]
    _, by_sum = run(tmp_path, records, score="sum_log_probs")
    _, by_mean = run(tmp_path, records, score="mean_log_probs")
    assert [r["doc_id"] for r in by_sum] == ["a", "b"]
    assert [r["doc_id"] for r in by_mean] == ["b", "a"]


def test_top_k_and_per_doc_cap(tmp_path: Path) -> None:
    records = [
        record("a", "q one", [-0.1]),
        record("a", "q two", [-0.2]),
        record("a", "q three", [-0.3]),
        record("b", "q four", [-0.4]),
        record("c", "q five", [-0.5]),
        record("c", "q six", [-0.6]),
    ]
    summary, kept = run(tmp_path, records, keep_top_k=3, max_per_doc=1)
    assert [r["query"] for r in kept] == ["q one", "q four", "q five"]
    assert (summary.over_doc_cap, summary.below_top_k) == (3, 0)
    summary, kept = run(tmp_path, records, keep_top_k=2)
    assert [r["query"] for r in kept] == ["q one", "q two"]
    assert summary.below_top_k == 4


def test_duplicates_keep_the_best_and_earliest_on_ties(tmp_path: Path) -> None:
    records = [
        record("a", "the same query", [-0.9]),
        record("b", "The same query!", [-0.1]),
        record("c", "the SAME query", [-0.1]),
        record("d", "another query", [-0.5]),
    ]
    summary, kept = run(tmp_path, records)
    assert [(r["doc_id"], r["query"]) for r in kept] == [
        ("b", "The same query!"),
        ("d", "another query"),
    ]
    assert summary.duplicate == 2
    summary, kept = run(tmp_path, records, dedup=False)
    assert len(kept) == 4 and summary.duplicate == 0


def test_dedup_happens_before_the_cap(tmp_path: Path) -> None:
    # The best "x y" is in doc a, which the cap fills with a better query: the duplicate
    # in doc b does not come back (de-duplication is a cleaning step, before selection).
    records = [
        record("a", "best of a", [-0.01]),
        record("a", "x y", [-0.1]),
        record("b", "x y", [-0.2]),
    ]
    summary, kept = run(tmp_path, records, max_per_doc=1)
    assert [r["query"] for r in kept] == ["best of a"]
    assert (summary.duplicate, summary.over_doc_cap) == (1, 1)


def test_bad_line_is_an_error_naming_it(tmp_path: Path) -> None:
    records = [record("a", "ok query", [-0.1]), {"doc_id": "a", "query": "no log probs"}]
    with pytest.raises(InputError, match=r"in\.jsonl:2, field 'log_probs': missing"):
        run(tmp_path, records)
    with pytest.raises(InputError, match=r"in\.jsonl:2: malformed JSON"):
        run(tmp_path, [record("a", "ok query", [-0.1]), '{"doc_id": "a", "qu'])


def test_infinite_log_probs_are_rejected_and_never_written(tmp_path: Path) -> None:
    """A generator that wrote -Infinity (Python's json does, by default) is caught at the
    line, and the output never holds a number that is not JSON."""
    records = [
        record("a", "ok query", [-0.1]),
        '{"doc_id": "a", "query": "minus infinity", "log_probs": [-0.5, -Infinity]}',
    ]
    with pytest.raises(InputError, match=r"in\.jsonl:2, field 'log_probs': value 1 is -inf"):
        run(tmp_path, records)
    summary, kept = run(tmp_path, records, skip_invalid=True, score="sum_log_probs")
    assert (summary.invalid, summary.kept) == (1, 1)
    text = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    assert [json.loads(line, parse_constant=_refuse) for line in text.splitlines()] == kept


def _refuse(constant: str) -> None:
    raise AssertionError(f"not JSON: {constant}")


def test_skip_invalid_counts_bad_lines(tmp_path: Path) -> None:
    records = [
        record("a", "ok query", [-0.1]),
        {"doc_id": "a", "query": "no log probs"},
        {"doc_id": "a", "query": "bad lengths", "log_probs": [-1.0], "tokens": []},
        {"doc_id": "a", "query": "nothing scored", "log_probs": [], "tokens": []},
        "[1, 2]",
        "{broken",
        "",
        record("b", "another query", [-0.2]),
    ]
    summary, kept = run(tmp_path, records, skip_invalid=True)
    assert summary.read == 7 and summary.invalid == 5 and summary.kept == 2
    assert len(kept) == 2
    assert summary.invalid_examples[0].startswith(str(tmp_path / "in.jsonl") + ":2")


def test_empty_generation_is_an_empty_query_not_invalid(tmp_path: Path) -> None:
    summary, kept = run(tmp_path, [{"doc_id": "a", "query": "", "log_probs": [], "tokens": []}])
    assert (summary.empty, summary.invalid, kept) == (1, 0, [])


def test_min_doc_words_drops_queries_of_short_documents(tmp_path: Path) -> None:
    corpus = write_beir_corpus(
        tmp_path / "corpus",
        [("title-only", "Compilers", ""), ("full", "Compilers", "a study of parsing tables")],
    )
    records = [
        record("title-only", "what is a compiler", [-0.1]),
        record("full", "parsing", [-0.2]),
    ]
    summary, kept = run(tmp_path, records, corpus=str(corpus), min_doc_words=4)
    assert [r["doc_id"] for r in kept] == ["full"]
    assert summary.short_document == 1
    assert ("document under --min-doc-words", 1) in summary.drops()
    with pytest.raises(InparsError, match="--min-doc-words needs --corpus"):
        run(tmp_path, records, min_doc_words=4)


class ExampleCopyingEngine:
    """Through the real generate(): each document's first query repeats the prompt's first
    few-shot query (the failure seen with small models), the second is its own first words."""

    name = "fake"
    model = "example-copier"
    tokenizer = None
    context_length = None

    def generate(self, requests: list[Any], params: Any) -> list[list[Any]]:
        from inpars.engines.base import Generation

        out = []
        for request in requests:
            prompt, n = request.prompt, request.n
            first_example = prompt.split("Relevant Query:", 1)[1].split("\n", 1)[0]
            own = " ".join(prompt.rsplit("Document:", 1)[1].split()[:2])
            texts = [first_example.strip(), own][:n]
            out.append(
                [
                    Generation(t, t.split(), [-0.5] * len(t.split()), "stop", 10, len(t.split()))
                    for t in texts
                ]
            )
        return out

    def close(self) -> None:
        pass


def test_queries_copying_a_prompt_example_are_dropped(tmp_path: Path) -> None:
    from inpars.generate import GenerateConfig, generate
    from inpars.prompts import load_template

    generated = tmp_path / "queries.jsonl"
    config = GenerateConfig(corpus="sample", output=str(generated), num_queries_per_doc=2,
                            max_docs=4, seed=1)  # fmt: skip
    generate(ExampleCopyingEngine(), config, show_progress=False)
    example_query = load_template("inpars").examples[0].fields["query"]
    records = read_jsonl(generated)
    assert sum(r["query"] == example_query for r in records) == 4

    def kept(prompt_examples: str) -> tuple[Any, list[str]]:
        output = tmp_path / f"out-{Path(prompt_examples).name}.jsonl"
        summary = filter_queries(FilterConfig(
            input=str(generated), output=str(output), corpus="sample", dedup=False,
            prompt_examples=prompt_examples,
        ))  # fmt: skip
        return summary, [r["query"] for r in read_jsonl(output)]

    # "auto": the generation manifest names the template, whose examples are checked.
    summary, queries = kept("auto")
    assert (summary.copied_example, summary.example_copies_checked) == (4, True)
    assert len(queries) == 4 and example_query not in queries
    assert ("copied from a prompt example", 4) in summary.drops()
    # Named explicitly: the same; turned off: the copies stay.
    assert kept("inpars")[0].copied_example == 4
    summary, queries = kept("none")
    assert (summary.copied_example, summary.example_copies_checked, len(queries)) == (0, False, 8)
    # An examples file (JSONL) without that query does not match it.
    other = write_jsonl(tmp_path / "examples.jsonl", [{"query": "x y z w", "document": "d"}])
    assert kept(str(other))[0].copied_example == 0


def test_dynamic_examples_are_found_through_the_manifest(tmp_path: Path) -> None:
    from inpars.generate import GenerateConfig, generate

    examples = write_jsonl(tmp_path / "examples.jsonl", [
        {"id": "q1", "query": "how are judges of the supreme court chosen", "document": "A"},
        {"id": "q2", "query": "who may vote in federal elections today", "document": "B"},
    ])  # fmt: skip
    generated = tmp_path / "queries.jsonl"
    config = GenerateConfig(corpus="sample", output=str(generated), template=str(
        write_jsonl(tmp_path / "t.toml", [
            'example = "Document: {document}\\nRelevant Query: {query}\\n\\n"',
            'prompt = "{examples}Document: {document}\\nRelevant Query:"',
        ])), examples=str(examples), num_examples=1, max_docs=3, num_queries_per_doc=2, seed=1,
    )  # fmt: skip
    generate(ExampleCopyingEngine(), config, show_progress=False)
    output = tmp_path / "out.jsonl"
    summary = filter_queries(FilterConfig(input=str(generated), output=str(output), dedup=False))
    assert summary.copied_example == 3  # the one drawn example, once per document
    # The manifest names an examples file that is gone: an error naming manifest and field.
    examples.unlink()
    with pytest.raises(InputError, match=r"manifest\.json, field 'config\.examples'"):
        filter_queries(FilterConfig(input=str(generated), output=str(output), overwrite=True))
    config = FilterConfig(input=str(generated), output=str(output), prompt_examples="none",
                          dedup=False, overwrite=True)  # fmt: skip
    assert filter_queries(config).kept == 6


def test_doc_missing_from_corpus_is_an_error(tmp_path: Path) -> None:
    corpus = write_beir_corpus(tmp_path / "corpus", [("d1", "", "some text here")])
    with pytest.raises(InputError, match=r"in\.jsonl:1, field 'doc_id': doc_id 'zz' is not"):
        run(tmp_path, [record("zz", "a query", [-0.1])], corpus=str(corpus))


def test_cli_exit_codes_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [record("a", "two words", [-0.1])])
    out = tmp_path / "out.jsonl"
    summary_file = tmp_path / "summary.json"
    code = main(
        ["--input", str(source), "--output", str(out), "--summary", str(summary_file), "--quiet"]
    )
    assert code == 0
    assert "kept" in capsys.readouterr().err
    saved = json.loads(summary_file.read_text())
    assert saved["kept"] == 1 and saved["config"]["keep_top_k"] == 10_000
    write_jsonl(source, [{"doc_id": "a", "query": "x y"}])
    assert main(["--input", str(source), "--output", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err  # another input: refused
    assert main(["--input", str(source), "--output", str(out), "--quiet", "--overwrite"]) == 2
    assert "field 'log_probs'" in capsys.readouterr().err
    assert main(["--input", str(source), "--output", str(source), "--quiet"]) == 2


def test_cli_reads_a_jsonl_corpus_by_its_own_field_names(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = write_jsonl(tmp_path / "passages.jsonl", [
        {"pid": "p1", "heading": "F", "passage": "transition to turbulence occurs at high speed"},
        {"pid": "p2", "heading": "Heat", "passage": "heat transfer in a boundary layer"},
    ])  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", [
        record("p1", "transition to turbulence occurs at high speed", [-0.1]),  # copies p1
        record("p2", "how is heat moved near walls", [-0.2]),
    ])  # fmt: skip
    out = tmp_path / "out.jsonl"
    argv = ["--input", str(source), "--output", str(out), "--corpus", str(corpus),
            "--id-field", "pid", "--text-field", "passage", "--title-field", "heading",
            "--prompt-examples", "none", "--quiet"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert [r["doc_id"] for r in read_jsonl(out)] == ["p2"]
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["summary"]["copied"] == 1
    assert manifest["config"]["id_field"] == "pid"
    # Without the field names the corpus has no text field the reader knows: a clear error.
    assert main([*argv[:6], "--prompt-examples", "none", "--quiet", "--overwrite"]) == 2
    assert "passages.jsonl" in capsys.readouterr().err


def test_help_explains_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--keep-top-k", "--max-per-doc", "--min-words", "--copy-threshold", "--score"):
        assert flag in text


# --- top-k: the streaming result equals the greedy one, in O(k) ---------------------------


def greedy(items: list[tuple[float, str]], k: int, cap: int | None) -> list[int]:
    order = sorted(range(len(items)), key=lambda i: (-items[i][0], i))
    kept: list[int] = []
    per_group: dict[str, int] = {}
    for i in order:
        group = items[i][1]
        if cap is not None and per_group.get(group, 0) >= cap:
            continue
        per_group[group] = per_group.get(group, 0) + 1
        kept.append(i)
        if len(kept) == k:
            break
    return kept


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(-20, 0).map(float), st.sampled_from("abcde")), max_size=60
    ),
    k=st.integers(1, 12),
    cap=st.one_of(st.none(), st.integers(1, 4)),
)
def test_top_k_equals_greedy_selection(
    items: list[tuple[float, str]], k: int, cap: int | None
) -> None:
    top = TopK(k, cap)
    for i, (score, group) in enumerate(items):
        top.offer(score, i, group, i)
    assert [item for _, item in top.ranked()] == greedy(items, k, cap)
    assert top.dropped_by_cap + top.dropped_by_k + len(top) == len(items)


def test_top_k_memory_is_bounded_by_k() -> None:
    top = TopK(10, max_per_group=2)
    for i in range(20_000):
        top.offer(float(i % 997), i, str(i % 50), i)
        assert len(top) <= 10
        assert len(top._heap) <= 2 * 10 + 65
        assert sum(len(h) for h in top._group_heaps.values()) == top._group_entries <= 2 * 10 + 65


# --- round-trip consistency (real bundled MiniLM) ------------------------------------------


ROUND_TRIP_DOCS = [
    ("volcano", "Volcanoes", "Magma rises through the crust and erupts as lava and ash."),
    ("compiler", "Compilers", "A compiler parses source code and emits machine instructions."),
    ("bread", "Baking bread", "Knead the dough, let the yeast rise, then bake it in an oven."),
    ("football", "Football", "Two teams kick a ball and try to score goals past a keeper."),
]


def test_round_trip_check_ranks_each_query_s_own_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpars.consistency import RoundTripCheck

    monkeypatch.setenv("INPARS_CACHE", str(tmp_path / "cache"))
    corpus = write_beir_corpus(tmp_path / "corpus", ROUND_TRIP_DOCS)
    check = RoundTripCheck.open("all-minilm-l6-v2", str(corpus), depth=1, device="cpu")
    queries = ["how does lava erupt from a volcano", "how do you bake bread with yeast"]
    assert check.ranks(queries, ["volcano", "football"]) == [1, None]
    # The whole corpus deep, every document has a rank; the bread query's football one is low.
    deep = RoundTripCheck(check.retriever, depth=len(ROUND_TRIP_DOCS))
    first, football = deep.ranks(queries, ["volcano", "football"])
    assert first == 1 and football is not None and football > 1
    with pytest.raises(InparsError, match="--consistency-depth must be at least 1"):
        RoundTripCheck(check.retriever, depth=0)


@pytest.mark.parametrize("batch_size", [1, 256])
def test_round_trip_filter_drops_queries_that_miss_their_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    monkeypatch.setenv("INPARS_CACHE", str(tmp_path / "cache"))
    corpus = write_beir_corpus(tmp_path / "corpus", ROUND_TRIP_DOCS)
    records = [
        record("volcano", "how does lava erupt from a volcano", [-0.5]),
        record("compiler", "how do you bake bread with yeast", [-0.1]),  # written off-topic
        record("bread", "what makes dough rise", [-0.3]),
        record("football", "how does a compiler emit machine code", [-0.2]),  # off-topic
    ]
    summary, kept = run(
        tmp_path, records, corpus=str(corpus), consistency_model="all-minilm-l6-v2",
        consistency_depth=1, consistency_batch_size=batch_size, device="cpu",
    )  # fmt: skip
    assert [r["doc_id"] for r in kept] == ["bread", "volcano"]  # best score first
    assert summary.inconsistent == 2 and summary.kept == 2
    assert ("failed the round trip", 2) in summary.drops()
    # Without the rule, all four are kept.
    summary, kept = run(tmp_path, records, corpus=str(corpus))
    assert summary.kept == 4 and summary.inconsistent == 0


def test_round_trip_filter_needs_a_corpus(tmp_path: Path) -> None:
    with pytest.raises(InparsError, match="--consistency-model needs --corpus"):
        run(tmp_path, [record("a", "a query", [-0.1])], consistency_model="all-minilm-l6-v2")
    corpus = write_beir_corpus(tmp_path / "corpus", ROUND_TRIP_DOCS)
    with pytest.raises(InparsError, match="--consistency-depth must be at least 1"):
        run(
            tmp_path, [record("volcano", "a query", [-0.1])], corpus=str(corpus),
            consistency_model="all-minilm-l6-v2", consistency_depth=0,
        )  # fmt: skip


# --- the InPars-v2 filter: rank by a reranker's score ----------------------------------------


def test_reranker_ranks_by_the_real_bi_encoder_score_of_query_and_document(tmp_path: Path) -> None:
    from inpars.corpus import read_corpus
    from inpars.pair_scores import PairScorer

    corpus = write_beir_corpus(
        tmp_path / "corpus",
        [
            ("a", "Wing flutter", "Flutter of aircraft wings at transonic speeds."),
            ("b", "", "Heat transfer in laminar boundary layers on a flat plate."),
        ],
    )
    records = [
        # The generator was most confident about the query unrelated to its document.
        record("a", "chocolate cake recipe", [-0.01, -0.01, -0.01]),
        record("a", "wing flutter at transonic speed", [-2.0, -2.0]),
        record("b", "boundary layer heat transfer", [-1.0, -1.0]),
        record("b", "laminar flat plate", [-1.5, -1.5]),
    ]
    _, by_log_probs = run(tmp_path, records, corpus=str(corpus), keep_top_k=3)
    assert "chocolate cake recipe" in [r["query"] for r in by_log_probs]
    summary, kept = run(
        tmp_path, records, corpus=str(corpus), keep_top_k=3, reranker="all-minilm-l6-v2"
    )
    assert "chocolate cake recipe" not in [r["query"] for r in kept]
    texts = {doc.id: doc.contents for doc in read_corpus(corpus)}
    expected = PairScorer.load("all-minilm-l6-v2").score(
        [r["query"] for r in records], [texts[r["doc_id"]] for r in records]
    )
    best = sorted(zip(expected, [r["query"] for r in records], strict=True), reverse=True)[:3]
    assert [r["query"] for r in kept] == [query for _, query in best]
    assert [r["score"] for r in kept] == pytest.approx([score for score, _ in best])
    assert summary.score == "reranker all-minilm-l6-v2" and summary.below_top_k == 1


def test_reranker_needs_the_corpus(tmp_path: Path) -> None:
    with pytest.raises(InparsError, match="--reranker needs --corpus"):
        run(tmp_path, [record("a", "q", [-1.0])], reranker="all-minilm-l6-v2")


def test_a_rerun_is_skipped_and_another_run_is_refused_with_the_difference(
    tmp_path: Path,
) -> None:
    records = [record("a", "q one", [-0.1]), record("b", "q two", [-0.2])]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    config = FilterConfig(input=str(source), output=str(tmp_path / "out.jsonl"), min_words=1)
    first = filter_queries(config)
    assert filter_queries(config) == first  # the same run: complete, skipped
    with pytest.raises(InparsError, match="setting keep_top_k: 10000 -> 1"):
        filter_queries(replace(config, keep_top_k=1))
    write_jsonl(source, records[:1])
    with pytest.raises(InparsError, match=r"input queries changed \(sha256"):
        filter_queries(config)
    assert filter_queries(replace(config, keep_top_k=1, overwrite=True)).kept == 1
