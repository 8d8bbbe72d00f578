"""The flags several stages share, declared once: the parser, option groups, and configs.

A stage's command line is its parser (:func:`stage_parser`), the option groups it shares
with other stages (corpus, device and dtype, output), its own flags, and
:func:`config_from_args`, which builds the stage's config dataclass from the parsed flags
by name. The library never sees ``argparse``: the CLI, the pipeline and a user's script all
call the stage with the same config.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

from inpars.cli.compat import ArgumentParser
from inpars.corpus import CORPUS_FORMATS, ID_FIELDS, TEXT_FIELDS, TITLE_FIELDS
from inpars.errors import InparsError
from inpars.models import DTYPES
from inpars.shards import SHARD_HELP, parse_shard

ConfigT = TypeVar("ConfigT")

#: How the corpus formats are named in ``--help``.
CORPUS_HELP = "a BEIR folder, .jsonl, .tsv or .csv file (.gz too), irds:<ir_datasets id>, or sample"


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with "(default: X)" after each flag, except where the help already says
    what the default is, or there is none to say (None, a switch that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False  # (0 is a default)
        switch = action.nargs == 0  # --quiet, --no-prefix-cache: the help says what it does
        if "default" in text.lower() or unset or switch or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action) or text


def stage_parser(command: str, description: str, *, prog: str | None = None) -> ArgumentParser:
    """The parser of stage ``command``: shows defaults in ``--help`` and takes the InPars
    toolkit's spellings of the stage's flags (:mod:`inpars.cli.compat`) without listing them.
    """
    return ArgumentParser(
        prog=prog or f"python -m inpars.{command}",
        description=description,
        formatter_class=DefaultsHelpFormatter,
        command=command,
    )


def add_corpus_options(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    help: str = "the corpus",
    flag: str = "--corpus",
) -> argparse._ArgumentGroup:
    """``--corpus`` and how to read it: ``--corpus-format`` and the id, text and title fields.

    The values go to the config fields ``corpus``, ``corpus_format``, ``id_field``,
    ``text_field`` and ``title_field`` (:class:`inpars.corpus.CorpusFields`).
    """
    group = parser.add_argument_group("corpus")
    group.add_argument(flag, dest="corpus", required=required, help=f"{help}: {CORPUS_HELP}")
    group.add_argument(
        "--corpus-format",
        choices=CORPUS_FORMATS,
        help="the corpus format, where its name does not say it (default: from the name)",
    )
    group.add_argument(
        "--id-field",
        help=f"the document id field or column (JSONL, CSV; default: {', '.join(ID_FIELDS)})",
    )
    group.add_argument(
        "--text-field",
        help=f"the document text field or column (default: {', '.join(TEXT_FIELDS)})",
    )
    group.add_argument(
        "--title-field",
        help=f"the document title field or column, optional (default: {', '.join(TITLE_FIELDS)})",
    )
    return group


def add_device_options(
    parser: argparse.ArgumentParser, *, dtype: bool = True, what: str = "the model"
) -> argparse._ArgumentGroup:
    """``--device`` and (with ``dtype``) ``--dtype``, both ``auto`` by default."""
    group = parser.add_argument_group("device")
    group.add_argument(
        "--device",
        default="auto",
        help=f"where {what} runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps",
    )
    if dtype:
        group.add_argument(
            "--dtype",
            default="auto",
            choices=DTYPES,
            help=f"the dtype of {what}: auto is bfloat16 on GPUs that have it, float16 on "
            "other GPUs, float32 on CPUs",
        )
    return group


def add_output_options(
    parser: argparse.ArgumentParser,
    *,
    help: str,
    required: bool = True,
    resumes: bool = True,
) -> argparse._ArgumentGroup:
    """``--output``, ``--overwrite`` and ``--quiet``.

    ``resumes``: whether rerunning the command continues an unfinished output (the rule of
    :mod:`inpars.artifacts`); the ``--overwrite`` help says so.
    """
    group = parser.add_argument_group("output")
    group.add_argument("--output", required=required, help=help)
    again = "resume or skip it" if resumes else "skip it"
    group.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace an output that another run (other settings or inputs) wrote; without "
        f"it, the same run's output is kept ({again}) and another run's is refused",
    )
    group.add_argument("--quiet", action="store_true", help="no progress display")
    return group


def add_shard_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, help: str = SHARD_HELP
) -> None:
    """``--shard I/N`` (:mod:`inpars.shards`), checked as the command line is parsed;
    ``help``: what a shard does where it is not the usual (``inpars search`` only encodes)."""

    def check(text: str) -> str:
        try:
            parse_shard(text)
        except InparsError as exc:  # argparse reports this as a usage error
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    parser.add_argument("--shard", default=None, metavar="I/N", type=check, help=help)


def add_bm25_corpus_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, texts: str, note: str = ""
) -> None:
    """``--bm25-corpus`` (:mod:`inpars.bm25_corpus`); ``texts`` says what still reads
    ``--corpus``, ``note`` adds what the command's users should know."""
    parser.add_argument(
        "--bm25-corpus",
        metavar="CORPUS",
        help="the corpus BM25 indexes and searches, e.g. an expansion from inpars.expand (the "
        f"same documents as --corpus); {texts} still read --corpus (default: --corpus)"
        + (f". {note}" if note else ""),
    )


def config_from_args(
    config_class: type[ConfigT], args: argparse.Namespace, **values: Any
) -> ConfigT:
    """``config_class`` (a dataclass) with each field taken from the flag of the same name.

    ``values`` give the fields whose flag has another name or needs converting; fields with
    neither keep their defaults.
    """
    names = {f.name for f in dataclasses.fields(config_class) if f.init}  # type: ignore[arg-type]
    taken = {name: getattr(args, name) for name in names if hasattr(args, name)}
    unknown = set(values) - names
    if unknown:
        raise TypeError(f"{config_class.__name__} has no field {', '.join(sorted(unknown))}")
    return config_class(**{**taken, **values})


__all__ = [
    "CORPUS_HELP",
    "DefaultsHelpFormatter",
    "add_bm25_corpus_option",
    "add_corpus_options",
    "add_device_options",
    "add_output_options",
    "add_shard_option",
    "config_from_args",
    "stage_parser",
]
