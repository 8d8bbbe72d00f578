"""The InPars toolkit's flag spellings, accepted by the matching inpars commands.

Scripts written for the original toolkit (``python -m inpars.generate --base_model ...
--dataset trec-covid``, ``inpars.filter --scoring_function ... --keep_top_k``,
``inpars.generate_triples``, ``inpars.train --base_model ... --output_dir``,
``inpars.rerank --output_run``) keep working: :func:`translate` rewrites their flags into
inpars' before parsing, so the aliases stay out of ``--help``. Only flags that mean the same
thing are aliased; the others (``--min_tokens``, which counts tokens where inpars counts
words, ``--relevance_threshold``, ...) are left for argparse to reject by name.

``--dataset NAME`` was a BEIR dataset loaded through ir_datasets (``beir/NAME``): it becomes
``irds:beir/NAME`` (or the file or folder ``NAME`` when one exists), as corpus, queries or
qrels depending on the command. The toolkit's other source, Pyserini's prebuilt indexes
(``--dataset_source pyserini``), needs downloads inpars does not make: it is refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

# Per command: the toolkit's flag -> inpars' flag(s). A value of None drops the flag (and its
# value): it only repeats an inpars default.
_RENAMED: dict[str, dict[str, tuple[str, ...] | None]] = {
    "generate": {
        "--base_model": ("--model",),
        "--dataset": ("--corpus",),
        "--max_new_tokens": ("--max-new-tokens",),
        "--max_doc_length": ("--max-doc-tokens",),
        "--max_generations": ("--max-docs",),
        "--batch_size": ("--batch-size",),
    },
    "filter": {
        "--dataset": ("--corpus",),
        "--scoring_function": ("--score",),
        "--top_k": ("--keep-top-k",),
        "--keep_top_k": ("--keep-top-k",),
    },
    "triples": {
        "--input": ("--queries",),
        "--dataset": ("--corpus",),
        "--max_hits": ("--depth",),
        "--batch_size": ("--batch-size",),
    },
    "train": {
        "--base_model": ("--model",),
        "--triples_train": ("--triples",),
        "--output_dir": ("--output",),
        "--max_steps": ("--max-steps",),
        "--learning_rate": ("--learning-rate",),
        "--weight_decay": ("--weight-decay",),
        "--num_train_epochs": ("--epochs",),
        "--save_steps": ("--save-steps",),
        "--save_every_n_steps": ("--save-steps",),
        "--logging_steps": ("--logging-steps",),
        "--warmup_ratio": ("--warmup-ratio",),
        "--max_doc_length": ("--max-length",),
        "--per_device_train_batch_size": ("--micro-batch-size",),
    },
    "rerank": {
        "--input_run": ("--run",),
        "--output_run": ("--output",),
        "--dataset": ("--corpus", "--queries"),
        "--top_k": ("--depth",),
        "--batch_size": ("--batch-size",),
    },
    "evaluate": {
        "--dataset": ("--qrels",),
    },
}
# Switches that stand for an inpars flag with a value.
_SWITCHES: dict[str, tuple[str, ...]] = {"--fp16": ("--dtype", "float16")}
_SWITCH_COMMANDS = {"generate", "rerank"}


def _dataset(name: str, command: str) -> str:
    """``--dataset NAME``: a local file or folder as is, else ir_datasets' ``beir/NAME``.

    Judgments live in a BEIR dataset's ``test`` subset where it has splits (``beir/scifact``
    has none of its own); the toolkit evaluated on that split.
    """
    if Path(name).exists() or name.startswith("irds:"):
        return name
    if command == "evaluate":
        import ir_datasets

        if f"beir/{name}/test" in ir_datasets.registry:
            return f"irds:beir/{name}/test"
    return f"irds:beir/{name}"


def _value(flag: str, value: str, command: str) -> str:
    if flag == "--dataset":
        return _dataset(value, command)
    if flag == "--dataset_source" and value != "ir_datasets":
        raise InparsError(
            f"--dataset_source {value}: inpars reads datasets through ir_datasets (irds:<id>) "
            "or from local files; Pyserini's prebuilt indexes are not supported"
        )
    return value


def translate(command: str, argv: Sequence[str]) -> list[str]:
    """``argv`` with the toolkit's flags of ``command`` rewritten as inpars flags.

    ``--flag value`` and ``--flag=value`` both work; everything else passes unchanged.

    Raises:
        InparsError: for ``--dataset_source pyserini``.
    """
    renamed = _RENAMED.get(command, {})
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        token = args[i]
        flag, equals, inline = token.partition("=")
        if flag in _SWITCHES and command in _SWITCH_COMMANDS and not equals:
            out.extend(_SWITCHES[flag])
        elif flag in renamed or flag == "--dataset_source":
            if equals:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                out.append(token)  # let argparse say the value is missing
                break
            value = _value(flag, value, command)
            for target in renamed.get(flag) or ():
                out.extend((target, value))
        else:
            out.append(token)
        i += 1
    return out


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser that also takes the toolkit's spellings of ``command``'s flags."""

    def __init__(self, *args: Any, command: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.toolkit_command = command

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = sys.argv[1:] if args is None else args
        try:
            translated = translate(self.toolkit_command, argv)
        except InparsError as exc:
            self.error(str(exc))
        return super().parse_known_args(translated, namespace)


__all__ = ["ArgumentParser", "translate"]
