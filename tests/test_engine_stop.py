"""One stop rule and one query normalisation for every engine (engines/base.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inpars.engines.base import (
    Request,
    SamplingParams,
    cut_completion_at_stop,
    normalize_query,
    token_starts_of_pieces,
)
from inpars.engines.hf import HFEngine
from inpars.engines.openai import OpenAIEngine

from conftest import build_tiny_causal_lm
from fake_openai_server import FakeOpenAIServer, answer_words

PARAMS = SamplingParams(max_new_tokens=16, temperature=0.0)


def cut(pieces: list[str], text: str | None = None) -> tuple[str, list[str], bool]:
    text = "".join(pieces) if text is None else text
    result = cut_completion_at_stop(text, token_starts_of_pieces(pieces), ("\n",))
    return result.text, pieces[: result.kept], result.stopped


def test_the_token_holding_the_stop_counts_when_part_of_its_text_is_kept() -> None:
    assert cut(["why", "?\n", "next"]) == ("why?", ["why", "?\n"], True)
    # A bare newline token is not part of the query.
    assert cut(["why", "?", "\n", "next"]) == ("why?", ["why", "?"], True)
    # A stop at the very start: an empty query with no tokens.
    assert cut(["\n", "x"]) == ("", [], True)
    assert cut(["\nx"]) == ("", [], True)


def test_text_a_server_cut_keeps_the_token_that_held_the_stop() -> None:
    # The server honoured the stop in the text but lists the token that held it.
    assert cut(["why", "?\n"], text="why?") == ("why?", ["why", "?\n"], False)
    # ... or lists a bare newline or an end-of-text token after the text: not kept.
    assert cut([" a", " b", "\n"], text=" a b") == (" a b", [" a", " b"], False)
    assert cut(["a", "b", "</s>"], text="ab") == ("ab", ["a", "b"], False)
    assert cut(["a", "b"]) == ("ab", ["a", "b"], False)


def test_normalize_query_trims_surrounding_whitespace_only() -> None:
    assert normalize_query(" what is  the flow ") == "what is  the flow"
    assert normalize_query("\twhy?") == "why?"


@pytest.fixture(scope="module")
def question_lm(tmp_path_factory: pytest.TempPathFactory) -> HFEngine:
    """A tiny model whose greedy choice is always the merged token "?\\n"."""
    directory = build_tiny_causal_lm(tmp_path_factory.mktemp("lm"), first_token="?Ċ")
    return HFEngine(str(directory))


def test_hf_keeps_the_question_mark_and_its_token(question_lm: HFEngine) -> None:
    question = question_lm._tokenizer.convert_tokens_to_ids("?Ċ")
    [[gen]] = question_lm.generate([Request("Document: a b c\nQuery: why", (0,))], PARAMS)
    assert gen.text == "?"
    assert gen.token_ids == [question] and gen.tokens == ["?\n"]
    assert len(gen.log_probs) == 1
    assert gen.finish_reason == "stop" and gen.completion_tokens == 1


def test_hf_finish_with_merged_and_bare_newlines(tiny_lm: Path) -> None:
    engine = HFEngine(str(tiny_lm))
    ids = engine._tokenizer.convert_tokens_to_ids
    the, question, newline = ids("Ġthe"), ids("?Ċ"), ids("Ċ")
    gen = engine._finish([the, the, question, the], [-1.0, -2.0, -3.0, -4.0], 5, PARAMS)
    assert gen.text == "the the?"
    assert gen.token_ids == [the, the, question] and gen.log_probs == [-1.0, -2.0, -3.0]
    assert gen.finish_reason == "stop" and gen.completion_tokens == 3
    gen = engine._finish([the, newline, the], [-1.0, -2.0, -3.0], 5, PARAMS)
    assert gen.text == "the" and gen.token_ids == [the] and gen.log_probs == [-1.0]
    assert gen.completion_tokens == 2


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.mark.parametrize("api", ["completions", "chat"])
@pytest.mark.parametrize("ignore_stop", [False, True], ids=["server-stops", "server-runs-on"])
def test_openai_keeps_the_question_mark_and_its_token(
    server: FakeOpenAIServer, api: str, ignore_stop: bool
) -> None:
    server.merge_newline = True
    server.ignore_stop = ignore_stop
    engine = OpenAIEngine(model="fake", base_url=server.base_url, api=api)
    prompt = "Document: doc 1"
    [[gen]] = engine.generate([Request(prompt, (0,))], PARAMS)
    assert gen.text == " ".join(answer_words(prompt)) + "?"
    assert gen.tokens[-1] == "?\n"
    assert "".join(gen.tokens).strip() == gen.text
    assert len(gen.log_probs) == len(gen.tokens)
    assert gen.finish_reason == "stop"


def test_openai_query_has_no_leading_space(server: FakeOpenAIServer) -> None:
    server.leading_space = True  # as llama.cpp's completions API answers after "Query:"
    engine = OpenAIEngine(model="fake", base_url=server.base_url)
    [[gen]] = engine.generate([Request("Document: doc 1", (0,))], PARAMS)
    assert gen.text == "query about Document: doc 1"
    assert gen.tokens[0] == " query"
