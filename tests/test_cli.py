"""``inpars STAGE ...``: one command for every stage."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from inpars.cli import STAGES, main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_is_a_command(stage: str) -> None:
    assert callable(importlib.import_module(STAGES[stage]).main)


def test_the_inpars_command_runs_a_stage_as_its_module_does(tmp_path: Path) -> None:
    records = [
        {"doc_id": f"d{i}", "query": f"what is topic number {i}", "log_probs": [-0.1 * i, -1.0]}
        for i in range(5)
    ]
    source = tmp_path / "queries.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    script = Path(sys.executable).parent / "inpars"  # the console script pip installs
    assert script.is_file(), "inpars is not installed with its console script (pip install -e .)"
    outputs = []
    for command in ([str(script), "filter"], [sys.executable, "-m", "inpars", "filter"],
                    [sys.executable, "-m", "inpars.filter"]):  # fmt: skip
        output = tmp_path / f"out{len(outputs)}.jsonl"
        done = subprocess.run(
            [*command, "--input", str(source), "--output", str(output), "--keep-top-k", "2"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(output.read_text())
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0].splitlines()) == 2


def test_help_unknown_stage_and_no_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {stage} " in listed for stage in STAGES)
    assert main(["frobnicate"]) == 2
    assert "unknown stage 'frobnicate'" in capsys.readouterr().err
    assert main([]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["filter", "--help"])
    assert exit_info.value.code == 0 and "--keep-top-k" in capsys.readouterr().out
