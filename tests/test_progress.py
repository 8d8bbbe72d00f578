"""The one console: warnings as single lines, user text never read as markup."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest
from rich.console import Console

from inpars.corpus import CorpusWarning
from inpars.progress import console_warnings, print_error, say, stderr_console, summary_table

MARKUP = "a [citation needed] passage [/quote] with [bold]tags[/bold]"


def recording_console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


def test_user_text_is_printed_as_it_is() -> None:
    console = recording_console()
    say("note:", MARKUP, "yellow", console)
    print_error(ValueError(f"bad record {MARKUP}"), console)
    table = summary_table(f"inpars.x → out[1]/{MARKUP}", [("file", MARKUP)])
    table.add_row("added later", "[red]x[/red]")
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"note: {MARKUP}" in text and f"error: bad record {MARKUP}" in text
    assert text.count(MARKUP) == 4 and "[red]x[/red]" in text and "out[1]" in text


def test_each_warning_is_one_line_once(capsys: pytest.CaptureFixture[str]) -> None:
    @console_warnings()
    def command() -> None:
        for _ in range(2):  # a corpus read twice warns twice, from two places
            warnings.warn(CorpusWarning(f"c.jsonl: skipped 1 document(s) {MARKUP}"), stacklevel=1)
        warnings.warn(CorpusWarning(f"c.jsonl: skipped 1 document(s) {MARKUP}"), stacklevel=1)
        warnings.warn("a library's own warning", FutureWarning, stacklevel=1)

    command()
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"warning: c.jsonl: skipped 1 document(s) {MARKUP}",
        "warning (FutureWarning): a library's own warning",
    ]
    command()  # a second run of a command in the same process says it again
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_a_long_warning_is_not_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    message = "x" * 300
    with console_warnings():
        warnings.warn(CorpusWarning(message), stacklevel=1)
    assert capsys.readouterr().err == f"warning: {message}\n"


def test_the_console_follows_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert stderr_console() is stderr_console()
    say("x:", "y")
    assert capsys.readouterr().err == "x: y\n"


def test_errors_quoting_record_text_print_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from inpars.cli.filter import main

    source = tmp_path / "in.jsonl"
    record = {"doc_id": "d", "query": "q", "log_probs": ["[/quote]"]}
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert main(["--input", str(source), "--output", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "'[/quote]'" in err and "Traceback" not in err and "MarkupError" not in err
