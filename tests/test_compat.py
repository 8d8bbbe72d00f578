"""The InPars toolkit's flag spellings work on the matching inpars commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inpars.cli.compat import translate


def test_toolkit_flags_become_inpars_flags(tmp_path: Path) -> None:
    assert translate(
        "generate", ["--base_model=EleutherAI/gpt-j-6B", "--dataset", "trec-covid", "--fp16",
                     "--output", "q.jsonl", "--max_new_tokens", "32"]
    ) == ["--model", "EleutherAI/gpt-j-6B", "--corpus", "irds:beir/trec-covid", "--dtype",
          "float16", "--output", "q.jsonl", "--max-new-tokens", "32"]  # fmt: skip
    assert translate(
        "filter", ["--input", "q.jsonl", "--scoring_function", "sum_log_probs", "--top_k", "5"]
    ) == ["--input", "q.jsonl", "--score", "sum_log_probs", "--keep-top-k", "5"]
    assert translate("rerank", ["--dataset", "scifact", "--output_run", "r.trec"]) == [
        "--corpus", "irds:beir/scifact", "--queries", "irds:beir/scifact", "--output", "r.trec",
    ]  # fmt: skip
    # Judgments come from the BEIR test split, as the toolkit evaluated.
    assert translate("evaluate", ["--dataset", "scifact"]) == ["--qrels", "irds:beir/scifact/test"]
    assert translate("evaluate", ["--dataset", "trec-covid"]) == ["--qrels", "irds:beir/trec-covid"]
    # A local file or folder named by --dataset stays what it is; inpars' own flags pass.
    (tmp_path / "corpus.jsonl").write_text("")
    local = str(tmp_path / "corpus.jsonl")
    assert translate("triples", ["--dataset", local, "--depth", "9"]) == [
        "--corpus", local, "--depth", "9",
    ]  # fmt: skip
    assert translate("train", ["--dataset_source", "ir_datasets", "--output_dir", "m"]) == [
        "--output", "m",
    ]  # fmt: skip


REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_the_toolkit_commands_run(tmp_path: Path) -> None:
    records = [
        {"doc_id": f"d{i}", "query": f"what is topic number {i}", "log_probs": [-0.1 * i, -1.0],
         "tokens": ["a", "b"]}
        for i in range(6)
    ]  # fmt: skip
    source = tmp_path / "queries.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    toolkit = _run(
        "inpars.filter", "--input", str(source), "--output", str(tmp_path / "a.jsonl"),
        "--scoring_function", "sum_log_probs", "--top_k", "3", "--copy-threshold", "0",

    )  # fmt: skip
    own = _run(
        "inpars.filter", "--input", str(source), "--output", str(tmp_path / "b.jsonl"),
        "--score", "sum_log_probs", "--keep-top-k", "3", "--copy-threshold", "0",
    )  # fmt: skip
    assert toolkit.returncode == own.returncode == 0, toolkit.stderr + own.stderr
    kept = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in kept] == ["d0", "d1", "d2"]
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()

    # The toolkit's module name for triples exists and takes its flags.
    help_text = _run("inpars.generate_triples", "--help")
    assert help_text.returncode == 0 and "--negatives-per-query" in help_text.stdout
    # Aliases stay out of --help; a source inpars cannot read is refused by name.
    assert "--scoring_function" not in _run("inpars.filter", "--help").stdout
    refused = _run("inpars.rerank", "--dataset", "x", "--dataset_source", "pyserini",
                   "--output_run", "r")  # fmt: skip
    assert refused.returncode == 2
    assert "--dataset_source pyserini" in refused.stderr
    assert "prebuilt indexes are not supported" in refused.stderr


COMMANDS = ["generate", "filter", "triples", "train", "rerank", "evaluate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_alias_names_a_real_flag(command: str) -> None:
    import importlib

    from inpars.cli.compat import _RENAMED

    parser = importlib.import_module(f"inpars.cli.{command}").build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for targets in _RENAMED[command].values():
        assert set(targets or ()) <= flags
