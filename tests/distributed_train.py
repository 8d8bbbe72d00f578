"""Runs one training command as a test sees it, in one process or under ``torchrun``.

``python tests/distributed_train.py reranker|genq|gpl MODEL DATA OUTPUT HASHES [--overwrite]``

After every optimizer step each process appends a hash of its weights to
``HASHES/rank<R>.jsonl``, so a test can check that all processes hold the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from transformers import TrainerCallback


class WeightHashes(TrainerCallback):
    """Appends ``{"step", "hash"}`` of the model's parameters after each optimizer step."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"rank{os.environ.get('RANK', '0')}.jsonl"

    def on_step_end(self, args, state, control, model=None, **kwargs):
        digest = hashlib.sha256()
        for name, parameter in sorted(model.named_parameters()):
            digest.update(name.encode())
            digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": state.global_step, "hash": digest.hexdigest()}) + "\n")


def main() -> int:
    what, model, data, output, hashes = sys.argv[1:6]
    overwrite = "--overwrite" in sys.argv[6:]
    callbacks = [WeightHashes(Path(hashes))]
    common = dict(output=output, model=model, max_length=32, device="cpu", logging_steps=1)
    if what == "reranker":
        from inpars.train import TrainConfig, train

        config = TrainConfig(
            triples=data, kind="monot5", learning_rate=1e-3, batch_size=8,
            micro_batch_size=2, epochs=1, save_steps=3, **common,
        )  # fmt: skip
        summary = train(config, overwrite=overwrite, show_progress=False, callbacks=callbacks)
    elif what == "genq":
        from inpars.dense import GenQConfig, train_genq

        config = GenQConfig(
            triples=data, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0, epochs=1,
            save_steps=3, **common,
        )  # fmt: skip
        summary = train_genq(config, overwrite=overwrite, show_progress=False, callbacks=callbacks)
    else:
        raise SystemExit(f"unknown run {what!r}")
    Path(hashes, f"summary{os.environ.get('RANK', '0')}.json").write_text(
        json.dumps({"steps": summary.steps, "final_loss": summary.final_loss})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
