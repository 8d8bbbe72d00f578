"""Prompt templates: built-ins, custom files, dynamic examples and token-aware truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inpars.errors import InparsError, InparsWarning, InputError
from inpars.prompts import (
    PromptBuilder,
    builtin_templates,
    draw_examples,
    load_examples,
    load_template,
)


class WordTokenizer:
    """One token per whitespace-separated word: easy to count by hand."""

    def encode(self, text: str) -> list[int]:
        self.words = text.split()
        return list(range(len(self.words)))

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


def test_builtin_templates_load_and_record_their_example_ids():
    assert {"inpars", "inpars-gbq", "promptagator"} <= set(builtin_templates())
    vanilla = load_template("inpars")
    assert len(vanilla.examples) == 3
    assert vanilla.fewshot_ids == ["inpars-vanilla-1", "inpars-vanilla-2", "inpars-vanilla-3"]
    prompt = PromptBuilder(vanilla).render("Some document\nwith two lines.")
    assert prompt.endswith("Example 4:\nDocument: Some document with two lines.\nRelevant Query:")
    assert prompt.count("Relevant Query:") == 4
    gbq = PromptBuilder(load_template("inpars-gbq")).render("doc")
    assert "Bad Question:" in gbq and gbq.endswith("Document: doc\nGood Question:")


def test_custom_text_template_keeps_other_braces_literal(tmp_path: Path):
    path = tmp_path / "mine.txt"
    path.write_text('Write a query as JSON {"q": ...} for:\n{document}\nQuery:', encoding="utf-8")
    template = load_template(str(path))
    expected = 'Write a query as JSON {"q": ...} for:\nabc\nQuery:'
    assert PromptBuilder(template).render("abc") == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("no placeholder here", "exactly once"),
        ("{document} and {document}", "exactly once"),
    ],
)
def test_bad_custom_templates_are_rejected(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_template(str(path))


def test_a_word_in_braces_that_is_no_placeholder_is_literal_with_a_warning(tmp_path: Path):
    """As the README says: only placeholders are replaced, other braces are literal. A
    {name} that is not a placeholder is kept, and the load warns (it may be a typo)."""
    path = tmp_path / "t.toml"
    path.write_text(
        'prompt = "Answer in {language}.\\n{examples}{document} ->"\n'
        'example = "{doc} {document} -> {query}\\n"\n'
        '[[examples]]\nid = "e1"\nquery = "q"\ndocument = "d"\n',
        encoding="utf-8",
    )
    with pytest.warns(InparsWarning, match=r"\{doc\}, \{language\} are not placeholders"):
        template = load_template(str(path))
    assert PromptBuilder(template).render("x") == "Answer in {language}.\n{doc} d -> q\nx ->"
    text = tmp_path / "t.txt"
    text.write_text("Use {word} literally: {document}", encoding="utf-8")
    with pytest.warns(InparsWarning, match=r"\{word\} is not a placeholder"):
        assert PromptBuilder(load_template(str(text))).render("d") == "Use {word} literally: d"


def test_a_placeholder_missing_from_one_example_is_an_error(tmp_path: Path):
    path = tmp_path / "t.toml"
    path.write_text(
        'prompt = "{examples}{document}"\nexample = "{document} -> {bad}\\n"\n'
        '[[examples]]\nid = "e1"\nbad = "b"\ndocument = "d"\n'
        '[[examples]]\nid = "e2"\ndocument = "d"\n',
        encoding="utf-8",
    )
    with pytest.raises(InparsError, match=r"example 'e2'\): no value for the placeholder \{bad\}"):
        load_template(str(path))


def test_unknown_template_name():
    with pytest.raises(InparsError, match="neither a file nor a built-in"):
        load_template("no-such-template")


def test_promptagator_draws_examples_from_a_file(tmp_path: Path):
    path = tmp_path / "train.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"q{i}", "query": f"query {i}", "document": f"doc {i}"}))
            f.write("\n")
    pool = load_examples(path)
    template = load_template("promptagator")
    assert template.needs_examples
    drawn = draw_examples(pool, template.num_examples, seed=1)
    assert [e.id for e in drawn] == [e.id for e in draw_examples(pool, 8, seed=1)]
    assert [e.id for e in drawn] != [e.id for e in draw_examples(pool, 8, seed=2)]
    filled = template.with_examples(drawn)
    prompt = PromptBuilder(filled).render("the new document")
    assert prompt.count("Query:") == 9
    assert prompt.endswith("Article: the new document\nQuery:")
    assert filled.fewshot_ids == [e.id for e in drawn]


def test_examples_file_errors_name_the_line(tmp_path: Path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"query": "a", "document": "b"}\n{"query": "", "document": "c"}\n')
    with pytest.raises(InputError, match=r"ex.jsonl:2.*'query'"):
        load_examples(path)


def test_only_the_document_is_truncated_and_the_cue_survives():
    template = load_template("inpars")
    tokenizer = WordTokenizer()
    long_doc = " ".join(f"w{i}" for i in range(1000))
    builder = PromptBuilder(template, tokenizer, max_doc_tokens=50)
    prompt = builder.render(long_doc)
    assert prompt.endswith("w49\nRelevant Query:")
    assert "w50" not in prompt
    assert builder.truncated == 1
    before, _ = template.split()
    assert prompt.startswith(before)  # instruction and examples whole

    fixed = len((before + "\nRelevant Query:").split())
    tight = PromptBuilder(template, tokenizer, max_doc_tokens=500, max_prompt_tokens=fixed + 20)
    prompt = tight.render(long_doc)
    assert len(prompt.split()) <= fixed + 20
    assert prompt.startswith(before) and prompt.endswith("\nRelevant Query:")


def test_truncation_with_a_real_tokenizer_keeps_the_prompt_within_the_context(smollm2):
    template = load_template("inpars")
    builder = PromptBuilder(template, smollm2.tokenizer, max_doc_tokens=4000,
                            max_prompt_tokens=600)
    prompt = builder.render("aerodynamic heating of blunt bodies " * 2000)
    assert len(smollm2.encode_prompt(prompt)) <= 600
    assert prompt.endswith("\nRelevant Query:")


def test_a_template_longer_than_the_context_is_an_error():
    with pytest.raises(InparsError, match="alone takes"):
        PromptBuilder(load_template("inpars"), WordTokenizer(), max_prompt_tokens=20)
