"""Reranker training: the loss falls, a crashed run resumes to the same weights, bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from inpars.cli.train import main
from inpars.errors import InparsError, InputError
from inpars.rerankers import load_reranker
from inpars.train import TrainConfig, train

from conftest import write_learnable_triples


def logged_losses(output: Path) -> list[float]:
    lines = (output / "train-log.jsonl").read_text().splitlines()
    return [row["loss"] for row in map(json.loads, lines) if "loss" in row]


@pytest.mark.parametrize("kind", ["monot5", "cross-encoder"])
def test_tiny_reranker_learns(
    kind: str, tiny_t5: Path, tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    model = tiny_t5 if kind == "monot5" else tiny_cross_encoder
    triples = write_learnable_triples(tmp_path / "triples.tsv")
    config = TrainConfig(
        triples=str(triples), output=str(tmp_path / "out"),
        kind=kind, model=str(model), learning_rate=1e-2 if kind == "monot5" else 3e-3,
        batch_size=8, micro_batch_size=4,
        epochs=3, logging_steps=4, max_length=64,
    )  # fmt: skip
    summary = train(config, show_progress=False)
    assert summary.steps == 24 and summary.triples == 64
    losses = logged_losses(tmp_path / "out")
    assert losses[-1] < 0.5 * losses[0]
    # The saved folder is a reranker of its kind that now prefers the positives.
    reranker = load_reranker(str(tmp_path / "out"))
    assert reranker.kind == kind and reranker.max_length == 64
    pos, neg = reranker.score(
        ["what about the wing"] * 2,
        ["answer: the wing is explained here", "noise: the jet was never measured"],
    )
    assert pos > neg


class Crash(Exception):
    pass


class CrashAfterSaving(TrainerCallback):
    """Stops the run right after the checkpoint of ``step`` is written, as a crash would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash


def test_resume_after_a_crash_gives_the_weights_of_an_uninterrupted_run(
    tiny_t5: Path, tmp_path: Path
) -> None:
    triples = write_learnable_triples(tmp_path / "triples.tsv", n=40)
    base = TrainConfig(
        triples=str(triples), output=str(tmp_path / "straight"), kind="monot5", model=str(tiny_t5),
        batch_size=4, micro_batch_size=2, max_steps=6, save_steps=2, max_length=48, seed=3,
    )  # fmt: skip
    train(base, show_progress=False)
    crashed = replace(base, output=str(tmp_path / "crashed"))
    with pytest.raises(Crash):
        train(crashed, show_progress=False, callbacks=[CrashAfterSaving(4)])
    assert not (tmp_path / "crashed" / "model.safetensors").exists()
    summary = train(crashed, show_progress=False)
    assert summary.resumed_from is not None and summary.resumed_from.endswith("checkpoint-4")
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "crashed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=1e-6, msg=name)
    # Done: the same command again does nothing; other settings are refused.
    assert train(crashed, show_progress=False).already_trained
    with pytest.raises(InparsError, match=r"setting learning_rate: 0\.0003 -> 0\.01"):
        train(replace(crashed, learning_rate=1e-2), show_progress=False)


def test_bad_triples_fail_before_training_naming_the_line(tmp_path: Path, capsys) -> None:
    triples = tmp_path / "triples.tsv"
    triples.write_text("q\tpos\tneg\nq only two\tfields\n")
    with pytest.raises(InputError, match=r"triples.tsv:2.*expected 3 tab-separated fields"):
        train(TrainConfig(triples=str(triples), output=str(tmp_path / "out")), show_progress=False)
    triples.write_text("q\t \tneg\n")
    code = main(["--triples", str(triples), "--output", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert "field 'positive': empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_settings_are_checked(tmp_path: Path) -> None:
    triples = write_learnable_triples(tmp_path / "t.tsv", n=4)
    with pytest.raises(InparsError, match="multiple of --micro-batch-size"):
        train(TrainConfig(triples=str(triples), output="x", batch_size=10, micro_batch_size=4))
    with pytest.raises(InparsError, match="unknown --kind"):
        train(TrainConfig(triples=str(triples), output="x", kind="splade"))


def test_crlf_bom_and_gzip_triples_train_like_plain_ones(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    """Triples are read as every input is: a Windows TSV, one with a byte order mark, or a
    .tsv.gz train on the same triples as the plain file (today's offsets crashed them)."""
    import gzip

    plain = write_learnable_triples(tmp_path / "plain.tsv", n=16).read_bytes()
    variants = {
        "crlf.tsv": plain.replace(b"\n", b"\r\n"),
        "bom.tsv": b"\xef\xbb\xbf" + plain,
        "plain.tsv.gz": gzip.compress(plain),
        "bom-crlf.tsv.gz": gzip.compress(b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n")),
    }
    base = TrainConfig(
        triples=str(tmp_path / "plain.tsv"), output=str(tmp_path / "out-plain"),
        kind="cross-encoder", model=str(tiny_cross_encoder), batch_size=4, micro_batch_size=4,
        max_steps=3, max_length=32, learning_rate=1e-3,
    )  # fmt: skip
    train(base, show_progress=False)
    expected = load_file(tmp_path / "out-plain" / "model.safetensors")
    for name, content in variants.items():
        (tmp_path / name).write_bytes(content)
        output = tmp_path / f"out-{name}"
        summary = train(replace(base, triples=str(tmp_path / name), output=str(output)),
                        show_progress=False)  # fmt: skip
        assert summary.triples == 16 and summary.steps == 3
        weights = load_file(output / "model.safetensors")
        for key in expected:
            torch.testing.assert_close(weights[key], expected[key], rtol=0, atol=0, msg=key)


def test_triples_dataset_reads_each_line_as_open_lines_does(tmp_path: Path) -> None:
    import gzip

    from inpars.train import TriplesDataset

    text = "\ufeffq1\tp1\tn1\r\n\r\nq2\tp é\tn2\r\nq3\tp3\tn3"  # BOM, CRLF, blank, no final EOL
    (tmp_path / "t.tsv.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    dataset = TriplesDataset(tmp_path / "t.tsv.gz")
    assert [dataset[i] for i in range(len(dataset))] == [
        ("q1", "p1", "n1"), ("q2", "p é", "n2"), ("q3", "p3", "n3"),
    ]  # fmt: skip
    (tmp_path / "bad.tsv").write_bytes(b"q\tp\tn\r\nq\tp\r\n")
    with pytest.raises(InputError, match=r"bad.tsv:2.*expected 3 tab-separated fields"):
        TriplesDataset(tmp_path / "bad.tsv")


def test_bi_encoder_batches_never_hold_a_text_twice(tmp_path: Path, monkeypatch) -> None:
    """Two queries per document (and a query with two negatives): with in-batch negatives a
    duplicate in a batch pushes a query away from its own document."""
    import inpars.train as train_module

    from dense_fixtures import build_tiny_bi_encoder

    model = build_tiny_bi_encoder(tmp_path / "bi")
    lines = []
    for d in range(12):
        for q in range(2):  # two queries per document
            lines.append(f"query {q} about topic{d}\tdocument on topic{d}\tnoise {d} {q}\n")
    lines.append("query 0 about topic0\tdocument on topic0\tother noise\n")  # repeated query
    triples = tmp_path / "triples.tsv"
    triples.write_text("".join(lines))
    batches: list[list[tuple[str, str, str]]] = []
    original = train_module.TripleCollator.__call__

    def recording(self, micro_batch):
        batches.append(list(micro_batch))
        return original(self, micro_batch)

    monkeypatch.setattr(train_module.TripleCollator, "__call__", recording)
    config = TrainConfig(
        triples=str(triples), output=str(tmp_path / "out"), kind="bi-encoder", model=str(model),
        batch_size=8, micro_batch_size=8, epochs=2, max_length=32, device="cpu",
    )  # fmt: skip
    train(config, show_progress=False)
    assert len(batches) == 8  # 2 epochs of ceil(25 / 8) optimizer steps
    for batch in batches:
        texts = [text for triple in batch for text in triple]
        assert len(texts) == len(set(texts)), batch


def test_triples_edited_in_place_are_a_changed_input(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    """The triples are compared by content, not path and size: an edit that keeps the size
    is refused as a changed input (not "already trained"); --overwrite trains again."""
    triples = write_learnable_triples(tmp_path / "triples.tsv", n=8)
    config = TrainConfig(
        triples=str(triples), output=str(tmp_path / "out"), kind="cross-encoder",
        model=str(tiny_cross_encoder), batch_size=4, micro_batch_size=4, max_steps=1,
        max_length=32,
    )  # fmt: skip
    train(config, show_progress=False)
    text = triples.read_text()
    triples.write_text(text.replace("wing", "ring"))  # the same size, other triples
    with pytest.raises(InparsError, match=r"(?s)triples.*changed.*--overwrite"):
        train(config, show_progress=False)
    assert not train(config, overwrite=True, show_progress=False).already_trained
    assert train(config, show_progress=False).already_trained


KILL_AT_STEP = """
import os, signal, sys
from transformers import Trainer
from inpars.cli.train import main
step, where = int(sys.argv[1]), sys.argv[2]
real = Trainer._save_rng_state if where == "mid-save" else Trainer._maybe_log_save_evaluate
def killing(self, *args, **kwargs):
    if where == "mid-save" and self.state.global_step == step:
        os.kill(os.getpid(), signal.SIGKILL)  # model and optimizer saved, trainer state not
    result = real(self, *args, **kwargs)
    if where == "after-save" and self.state.global_step == step:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(Trainer, real.__name__, killing)
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("where", ["after-save", "mid-save"])
def test_training_killed_resumes_to_the_weights_of_an_uninterrupted_run(
    where: str, tiny_t5: Path, tmp_path: Path
) -> None:
    """SIGKILL right after the checkpoint of step 4, or while it is being written (its
    trainer state missing): the same command resumes from the last whole checkpoint and
    ends with the weights of a run never killed."""
    import signal
    import subprocess
    import sys

    triples = write_learnable_triples(tmp_path / "triples.tsv", n=40)
    base = TrainConfig(
        triples=str(triples), output=str(tmp_path / "straight"), kind="monot5", model=str(tiny_t5),
        batch_size=4, micro_batch_size=2, max_steps=6, save_steps=2, max_length=48, seed=3,
    )  # fmt: skip
    train(base, show_progress=False)
    killed = replace(base, output=str(tmp_path / "killed"))
    argv = [
        "--triples", killed.triples, "--output", killed.output, "--kind", "monot5",
        "--model", str(tiny_t5), "--batch-size", "4", "--micro-batch-size", "2",
        "--max-steps", "6", "--save-steps", "2", "--max-length", "48", "--seed", "3", "--quiet",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_STEP, "4", where, *argv], capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert (tmp_path / "killed" / "checkpoints" / "checkpoint-4").is_dir()
    summary = train(killed, show_progress=False)
    expected = "checkpoint-4" if where == "after-save" else "checkpoint-2"
    assert summary.resumed_from is not None and summary.resumed_from.endswith(expected)
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "model.safetensors")
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=1e-6, msg=name)
