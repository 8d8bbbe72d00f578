"""Per-passage generation (generate --passage-tokens): windows, prompts, seeds, resume, shards.

Most tests run the tiny random model (fast: its byte-level tokenizer makes a token about a
character); one runs the real bundled SmolLM2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from inpars.artifacts import manifest_path
from inpars.cli.generate import main
from inpars.corpus import read_corpus
from inpars.engines.base import query_seed
from inpars.engines.hf import HFEngine
from inpars.errors import InparsError
from inpars.generate import GenerateConfig, generate
from inpars.merge import merge
from inpars.passages import PassageSettings
from inpars.prompts import load_template, normalize_text

from conftest import write_beir_corpus

WORDS = ["flow", "wing", "shell", "heat", "boundary", "layer", "pressure", "shock", "nozzle",
         "cone", "jet", "plate"]  # fmt: skip
# The fields every generated record had before passages existed (without optional flags).
WHOLE_DOCUMENT_FIELDS = {
    "doc_id", "query", "log_probs", "tokens", "query_index", "finish_reason", "template",
    "fewshot_ids", "model", "engine", "temperature", "top_p", "max_new_tokens", "seed",
    "prompt_tokens",
}  # fmt: skip
PASSAGE_FIELDS = {"passage_index", "passage_start", "passage_end", "num_passages"}


@pytest.fixture(scope="module")
def tiny_engine(tiny_lm: Path) -> HFEngine:
    return HFEngine(str(tiny_lm))


@pytest.fixture(scope="module")
def short_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A prompt without few-shot examples: the tiny model reads it in a fraction of the time."""
    path = tmp_path_factory.mktemp("template") / "short.txt"
    path.write_text("Document: {document}\nQuery:", encoding="utf-8")
    return str(path)


def make_corpus(directory: Path) -> Path:
    """Four documents: 3, 12, 25 and 40 words (a short one and three long ones)."""
    docs = [
        (f"d{i}", "", " ".join(WORDS[(i + k) % len(WORDS)] for k in range(n)))
        for i, n in enumerate([3, 12, 25, 40])
    ]
    return write_beir_corpus(directory, docs)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def document_part(prompt: str, template: str) -> str:
    """The document's text in a prompt of ``template``."""
    before, after = load_template(template).split()
    assert prompt.startswith(before) and prompt.endswith(after)
    return prompt[len(before) : len(prompt) - len(after)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "c")


@pytest.fixture
def config(short_template: str, tmp_path: Path, corpus: Path):
    """A sampled run's configuration over ``corpus`` with ``changes``, written to ``name``."""

    def make(name: str, **changes) -> GenerateConfig:
        base = GenerateConfig(
            corpus=str(corpus), output=str(tmp_path / name), max_new_tokens=3,
            template=short_template, num_queries_per_doc=2, temperature=1.0, seed=7,
            passage_tokens=40,
        )  # fmt: skip
        return dataclasses.replace(base, **changes)

    return make


# --- windows ------------------------------------------------------------------------------


def spans(settings: PassageSettings, text: str, tokenizer=None) -> list[tuple[int, int]]:
    return [(p.start, p.end) for p in settings.split(text, tokenizer)[0]]


def test_windows_count_overlap_and_last_partial_window() -> None:
    text = " ".join("abcdefghij")  # 10 words (no tokenizer: words are the unit)
    # Side by side (stride = N, the default): the last window holds what is left.
    assert spans(PassageSettings.of(4, None, None), text) == [(0, 4), (4, 8), (8, 10)]
    passages, cut = PassageSettings(4, 4).split(text, None)
    assert [p.text for p in passages] == ["a b c d", "e f g h", "i j"] and not cut
    assert [p.index for p in passages] == [0, 1, 2]
    # Overlapping: windows start every 3 words and share one; none lies inside the one before.
    passages, _ = PassageSettings(4, 3).split(text, None)
    assert [p.text for p in passages] == ["a b c d", "d e f g", "g h i j"]
    assert spans(PassageSettings(4, 2), text) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert spans(PassageSettings(5, 5), text) == [(0, 5), (5, 10)]  # exact fit: no empty window
    # A document of at most N tokens is one window, its text exactly the document.
    assert PassageSettings(10, 3).split(text, None) == PassageSettings(50, 50).split(text, None)
    assert PassageSettings(10, 3).split(text, None)[0][0].text == text
    assert spans(PassageSettings(4, 4), "") == [(0, 0)]  # an empty document: one empty window
    # --max-passages keeps the first windows and says the document was cut.
    passages, cut = PassageSettings(4, 4, max_passages=2).split(text, None)
    assert [p.text for p in passages] == ["a b c d", "e f g h"] and cut
    assert not PassageSettings(4, 4, max_passages=3).split(text, None)[1]


def test_windows_are_counted_in_the_generator_s_tokens(tiny_engine: HFEngine) -> None:
    tokenizer = tiny_engine.tokenizer
    text = normalize_text(" ".join(WORDS * 3))
    ids = tokenizer.encode(text)
    passages, _ = PassageSettings(30, 30).split(text, tokenizer)
    assert len(passages) == -(-len(ids) // 30)
    assert [(p.start, p.end) for p in passages][-1] == (30 * (len(passages) - 1), len(ids))
    # Side by side, the windows hold every token of the document once, in order.
    assert "".join(p.text for p in passages).replace(" ", "") == text.replace(" ", "")
    for p in passages:
        assert p.text == tokenizer.decode(ids[p.start : p.end]).strip()
    # --max-passages tokenizes only the start of a long document, with the same windows.
    long_text = normalize_text(" ".join(WORDS * 400))
    full, _ = PassageSettings(30, 20).split(long_text, tokenizer)
    first, cut = PassageSettings(30, 20, max_passages=3).split(long_text, tokenizer)
    assert cut and first == full[:3]


@pytest.mark.parametrize(
    ("tokens", "stride", "most", "message"),
    [
        (0, None, None, "--passage-tokens must be at least 1"),
        (8, 9, None, "--passage-stride must be between 1 and --passage-tokens"),
        (8, 0, None, "--passage-stride must be between 1 and --passage-tokens"),
        (8, None, 0, "--max-passages must be at least 1"),
        (None, 4, None, "--passage-stride needs --passage-tokens"),
        (None, None, 2, "--max-passages needs --passage-tokens"),
    ],
)
def test_bad_passage_settings_are_refused_with_the_flag_named(tokens, stride, most, message):
    with pytest.raises(InparsError, match=message):
        PassageSettings.of(tokens, stride, most)


def test_cli_refuses_bad_passage_settings_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import inpars.cli.generate as gen

    def no_model(args):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(gen, "engine_from_args", no_model)
    out = tmp_path / "q.jsonl"
    code = main(["--corpus", "sample", "--output", str(out), "--passage-tokens", "16",
                 "--passage-stride", "32", "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--passage-stride must be between 1 and --passage-tokens (16)" in err
    assert "Traceback" not in err and not out.exists()


# --- generation ---------------------------------------------------------------------------


def test_every_window_reaches_its_prompt_and_its_records_say_which(
    config, corpus, tmp_path, tiny_engine
):
    out = tmp_path / "q.jsonl"
    # --max-doc-tokens 5 would cut every document: with passages it does not apply.
    run = config("q.jsonl", max_doc_tokens=5, save_prompts=True)
    summary = generate(tiny_engine, run, show_progress=False)
    records = read_records(out)
    documents = {doc.id: normalize_text(doc.contents) for doc in read_corpus(corpus)}
    tokenizer = tiny_engine.tokenizer
    for doc_id, text in documents.items():
        mine = [r for r in records if r["doc_id"] == doc_id]
        count = -(-len(tokenizer.encode(text)) // 40)
        assert len(mine) == 2 * count
        assert all(PASSAGE_FIELDS | WHOLE_DOCUMENT_FIELDS | {"prompt"} == set(r) for r in mine)
        assert [(r["passage_index"], r["query_index"]) for r in mine] == [
            (p, 2 * p + j) for p in range(count) for j in range(2)
        ]
        assert {r["num_passages"] for r in mine} == {count}
        windows = [document_part(r["prompt"], run.template) for r in mine[::2]]
        assert [(r["passage_start"], r["passage_end"]) for r in mine[::2]] == [
            (40 * p, min(40 * p + 40, len(tokenizer.encode(text)))) for p in range(count)
        ]
        # All of the document, and nothing else, reached the prompts (a window's edges may
        # fall inside a word, so compare without spaces).
        assert "".join(windows).replace(" ", "") == text.replace(" ", "")
        if count == 1:
            assert windows == [text]  # a short document's prompt is the whole document
    assert summary.documents == 4 and summary.passages == len(records) // 2
    assert summary.truncated == 0
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["config"]["passage_tokens"] == 40
    assert manifest["config"]["passage_stride"] == 40  # the default, recorded as used
    assert manifest["query_seeds"].endswith("query_index, passage_index)")


def test_max_passages_bounds_each_document_and_counts_it_truncated(config, tiny_engine):
    run = config("q.jsonl", passage_tokens=30, passage_stride=20,
                 max_passages=2, num_queries_per_doc=1)  # fmt: skip
    summary = generate(tiny_engine, run, show_progress=False)
    records = read_records(Path(run.output))
    per_doc = {r["doc_id"]: r["num_passages"] for r in records}
    assert per_doc == {"d0": 1, "d1": 2, "d2": 2, "d3": 2}
    assert [(r["passage_start"], r["passage_end"]) for r in records if r["doc_id"] == "d3"] == [
        (0, 30), (20, 50)
    ]  # fmt: skip
    assert summary.truncated == 3  # d1..d3 go on beyond their second window


def test_seeds_hash_the_passage_and_whole_document_seeds_are_unchanged() -> None:
    # Without passages, the seed is the one every earlier run used: SHA-256 of
    # "seed\0doc_id\0query_index", its first 8 bytes big-endian, shifted right once.
    old = int.from_bytes(hashlib.sha256(b"3\x00d1\x001").digest()[:8], "big") >> 1
    assert query_seed(3, "d1", 1) == old == query_seed(3, "d1", 1, None)
    with_passages = {query_seed(3, "d1", j, p) for p in range(3) for j in range(2)}
    assert len(with_passages) == 6 and old not in with_passages


def test_without_passage_tokens_records_are_as_before(config, tiny_engine):
    run = config("q.jsonl", passage_tokens=None, max_doc_tokens=6)
    summary = generate(tiny_engine, run, show_progress=False)
    records = read_records(Path(run.output))
    assert len(records) == 8 and all(set(r) == WHOLE_DOCUMENT_FIELDS for r in records)
    assert [r["query_index"] for r in records] == [0, 1] * 4
    assert summary.passages == 0 and summary.truncated == 4  # cut to --max-doc-tokens
    manifest = json.loads(manifest_path(Path(run.output)).read_text())
    assert manifest["query_seeds"].endswith("(config.seed, doc_id, query_index)")


def test_sampled_passage_queries_do_not_depend_on_batch_size(config, tmp_path, tiny_engine):
    outputs = []
    for size in (1, 5):
        run = config(f"b{size}.jsonl", batch_size=size, passage_tokens=60,
                     passage_stride=40)  # fmt: skip
        generate(tiny_engine, run, show_progress=False)
        outputs.append(Path(run.output).read_bytes())
    assert outputs[0] == outputs[1]
    queries = [r["query"] for r in read_records(tmp_path / "b1.jsonl")]
    assert len(set(queries)) > len(queries) // 2  # sampled: the passages' queries differ


class InterruptAfter:
    """The tiny engine, interrupted (as by Ctrl-C) at its ``calls``-th generate call."""

    def __init__(self, engine: HFEngine, calls: int) -> None:
        self._engine, self._left = engine, calls

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def generate(self, requests, params):
        self._left -= 1
        if self._left == 0:
            raise KeyboardInterrupt
        return self._engine.generate(requests, params)


def test_an_interrupted_passage_run_resumes_to_the_uninterrupted_output(config, tiny_engine):
    whole = config("whole.jsonl", passage_tokens=30, batch_size=1)
    generate(tiny_engine, whole, show_progress=False)
    cut = config("cut.jsonl", passage_tokens=30, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        generate(InterruptAfter(tiny_engine, 3), cut, show_progress=False)
    assert len({r["doc_id"] for r in read_records(Path(cut.output))}) == 2
    # A kill in the middle of a write leaves part of a batch after the last commit: dropped.
    lines = Path(cut.output).read_text().splitlines(keepends=True)
    with Path(cut.output).open("a") as handle:
        handle.write(lines[-1][:20])
    summary = generate(tiny_engine, dataclasses.replace(cut, batch_size=2), show_progress=False)
    assert summary.skipped_done == 2 and summary.documents == 2
    assert Path(cut.output).read_bytes() == Path(whole.output).read_bytes()


def test_resuming_with_other_passage_settings_is_refused(config, tiny_engine):
    run = config("q.jsonl", passage_tokens=30, num_queries_per_doc=1)
    generate(tiny_engine, run, show_progress=False)
    for change, shown in [
        ({"passage_tokens": 20}, "passage_tokens: 30 -> 20"),
        ({"passage_stride": 10}, "passage_stride: 30 -> 10"),
        ({"max_passages": 1}, "max_passages: None -> 1"),
        ({"passage_tokens": None}, "passage_tokens: 30 -> None"),
    ]:
        with pytest.raises(InparsError, match=f"(?s){shown}.*--overwrite"):
            generate(tiny_engine, dataclasses.replace(run, **change), show_progress=False)
    # The default stride given explicitly is the same run: it resumes (nothing left to do).
    again = generate(tiny_engine, dataclasses.replace(run, passage_stride=30), show_progress=False)
    assert again.documents == 0 and again.skipped_done == 4
    # And a whole-document output is not resumed as a passage run.
    whole = config("w.jsonl", passage_tokens=None, num_queries_per_doc=1)
    generate(tiny_engine, whole, show_progress=False)
    with pytest.raises(InparsError, match="passage_tokens: None -> 30"):
        generate(tiny_engine, dataclasses.replace(whole, passage_tokens=30), show_progress=False)


def test_passage_shards_merge_into_the_unsharded_output(config, tmp_path, tiny_engine):
    whole = config("whole.jsonl", passage_tokens=30, passage_stride=20)
    generate(tiny_engine, whole, show_progress=False)
    parts = []
    for i in range(2):
        part = dataclasses.replace(whole, output=str(tmp_path / f"p{i}.jsonl"), shard=f"{i}/2")
        generate(tiny_engine, part, show_progress=False)
        parts.append(Path(part.output))
    merge(parts, tmp_path / "merged.jsonl")
    assert (tmp_path / "merged.jsonl").read_bytes() == Path(whole.output).read_bytes()
    other = dataclasses.replace(whole, output=str(tmp_path / "o1.jsonl"), shard="1/2",
                                passage_stride=30)  # fmt: skip
    generate(tiny_engine, other, show_progress=False)
    with pytest.raises(InparsError, match="setting passage_stride: 30 -> 20"):
        merge([parts[0], Path(other.output)], tmp_path / "m2.jsonl")


# --- downstream ---------------------------------------------------------------------------


def test_expand_appends_the_queries_of_every_passage(config, corpus, tmp_path, tiny_engine):
    from inpars.expand import ExpandConfig, expand, expanded_text

    run = config("q.jsonl", passage_tokens=30, num_queries_per_doc=1,
                 max_new_tokens=4, temperature=0.0)  # fmt: skip
    generate(tiny_engine, run, show_progress=False)
    records = read_records(Path(run.output))
    expand(ExpandConfig(corpus=str(corpus), queries=run.output, output=str(tmp_path / "x")))
    expanded = {r["_id"]: r["text"] for r in read_records(tmp_path / "x" / "corpus.jsonl")}
    for doc in read_corpus(corpus):
        queries = [r["query"] for r in records if r["doc_id"] == doc.id and r["query"].strip()]
        assert expanded[doc.id] == expanded_text(doc.text, queries)
    assert max(r["num_passages"] for r in records) > 1


@pytest.mark.slow
def test_real_model_passage_queries_do_not_depend_on_batch_size(tmp_path, smollm2):
    # The bundled SmolLM2, sampled, its own tokenizer counting the windows.
    corpus = write_beir_corpus(tmp_path / "c", [
        ("a", "Wings", "the boundary layer on a swept wing at high speed " * 4),
        ("b", "", "shock waves in a nozzle"),
    ])  # fmt: skip
    outputs = []
    for size in (1, 4):
        run = GenerateConfig(corpus=str(corpus), output=str(tmp_path / f"{size}.jsonl"),
                             passage_tokens=24, passage_stride=16, num_queries_per_doc=1,
                             max_new_tokens=4, temperature=1.0, top_p=0.95, seed=3,
                             batch_size=size)  # fmt: skip
        generate(smollm2, run, show_progress=False)
        outputs.append(Path(run.output).read_bytes())
    assert outputs[0] == outputs[1]
    records = read_records(tmp_path / "1.jsonl")
    count = records[0]["num_passages"]
    assert count > 1 and [r["passage_index"] for r in records if r["doc_id"] == "a"] == list(
        range(count)
    )
    assert [r["num_passages"] for r in records if r["doc_id"] == "b"] == [1]


def test_the_dataset_card_says_how_documents_were_split() -> None:
    from inpars.publish.card import _document_cut

    assert _document_cut({"max_doc_tokens": 200}) == "truncated to 200 tokens"
    split = {"max_doc_tokens": 200, "passage_tokens": 128, "passage_stride": 64, "max_passages": 8}
    assert _document_cut(split) == (
        "split into passages of 128 tokens, one every 64 tokens, at most 8 per document "
        "(`passage_index` says which)"
    )


def test_openai_engine_without_a_tokenizer_counts_words(short_template, tmp_path) -> None:
    # The openai engine knows no tokenizer unless given --tokenizer: a window is then N words,
    # the unit --max-doc-tokens uses for it too. The server receives one prompt per window,
    # each sampled with its passage's seed.
    from inpars.engines.openai import OpenAIEngine

    from fake_openai_server import FakeOpenAIServer

    text = " ".join(f"w{i}" for i in range(10))
    corpus = write_beir_corpus(tmp_path / "c", [("a", "", text)])
    with FakeOpenAIServer() as server:
        engine = OpenAIEngine(model="fake-model", base_url=server.base_url)
        run = GenerateConfig(corpus=str(corpus), output=str(tmp_path / "q.jsonl"),
                             template=short_template, passage_tokens=4, passage_stride=3,
                             temperature=1.0, seed=5, max_new_tokens=8)  # fmt: skip
        generate(engine, run, show_progress=False)
        sent = {r.body["prompt"]: r.body.get("seed") for r in server.completion_requests()}
    windows = ["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"]
    assert sent == {
        f"Document: {w}\nQuery:": query_seed(5, "a", p, p) for p, w in enumerate(windows)
    }
    records = read_records(tmp_path / "q.jsonl")
    assert [(r["passage_start"], r["passage_end"]) for r in records] == [(0, 4), (3, 7), (6, 10)]
