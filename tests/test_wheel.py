"""The built wheel carries the prompt templates and the sample corpus, and works installed.

The original InPars 0.2.1 wheel shipped without its prompt files and crashed at import.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with the hatchling installed here, no download needed.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=REPO, check=True, capture_output=True,
    )
    [built] = out.glob("inpars-*.whl")
    return built


def test_wheel_contains_templates_and_sample_corpus(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ["inpars.toml", "inpars-gbq.toml", "promptagator.toml"]:
        assert f"inpars/prompts/{template}" in names
    assert "inpars/data/sample/corpus.jsonl" in names
    # The command-line layer and the stage packages (python -m inpars.filter runs its __main__).
    for module in ["cli/__init__.py", "cli/generate.py", "filter/__init__.py", "filter/run.py",
                   "filter/__main__.py"]:  # fmt: skip
        assert f"inpars/{module}" in names


def test_installed_wheel_generates_with_a_builtin_template(wheel: Path, tmp_path: Path, tiny_lm):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The dependencies (torch, transformers, ...) come from this environment through a .pth
    # line; inpars itself only from the wheel (a .pth line adds a folder without reading
    # the .pth files in it, so the editable install here stays invisible).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    found = subprocess.run(
        [python, "-c", "import inpars.prompts as p; print(p.__file__); print(p.prompts_dir())"],
        cwd=work, check=True, capture_output=True, text=True,
    ).stdout.split()
    assert all(path.startswith(site) for path in found), found
    out = work / "q.jsonl"
    result = subprocess.run(
        [python, "-m", "inpars.generate", "--model", str(tiny_lm), "--corpus", "sample",
         "--max-docs", "3", "--prompt", "inpars-gbq", "--max-new-tokens", "4", "--quiet",
         "--output", str(out)],
        cwd=work, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    assert '"template": "inpars-gbq"' in lines[0]
    for stage in ["inpars.filter", "inpars.generate"]:
        shown = subprocess.run([python, "-m", stage, "--help"], cwd=work, capture_output=True,
                               text=True)  # fmt: skip
        assert shown.returncode == 0 and "--output" in shown.stdout, shown.stderr
