"""``inpars publish`` / ``python -m inpars.publish``: the command line of :mod:`inpars.publish`.

Three commands: ``inpars publish --queries ... --output DIR --license ...`` makes a dataset
folder (and with ``--push-to-hub`` uploads it), ``inpars publish verify DIR`` checks a
folder's SHA256SUMS, ``inpars publish push DIR --repo-id USER/NAME`` uploads a folder made
earlier.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from inpars.cli.command import command
from inpars.cli.options import config_from_args, stage_parser
from inpars.errors import InparsError
from inpars.progress import print_error, say, stderr_console, summary_table
from inpars.publish.bundle import PublishSummary, publish
from inpars.publish.config import PublishConfig
from inpars.publish.hub import push_to_hub
from inpars.publish.layout import SUMS_FILE
from inpars.publish.reader import VerifyResult, verify_bundle

#: What Ctrl-C leaves: the folder is built under a temporary name and renamed when whole.
NOTHING_WRITTEN = "nothing was written"


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "publish",
        "Bundle a run into a dataset folder: the filtered queries, the triples (JSON Lines "
        "with ids, and TSV), the run manifests of every stage, statistics, a Hugging Face "
        "dataset card (README.md) and SHA256SUMS. Optionally upload it to the Hugging Face Hub.",
    )
    parser.epilog = (
        "Other commands: 'python -m inpars.publish verify DIR' checks a folder's SHA256SUMS "
        "(e.g. after downloading it); 'python -m inpars.publish push DIR --repo-id USER/NAME' "
        "uploads a folder made earlier."
    )
    parser.add_argument("--queries", required=True, help="the filtered queries (inpars.filter)")
    parser.add_argument(
        "--triples", help="the triples TSV written by inpars.triples (its .jsonl beside it)"
    )
    parser.add_argument("--triples-jsonl", help="the triples JSON Lines, if not beside the TSV")
    parser.add_argument("--output", required=True, help="the dataset folder to create")
    parser.add_argument(
        "--license",
        required=True,
        help="the license of the source corpus, written into the card: a Hugging Face "
        "identifier (cc-by-4.0, cc-by-sa-4.0, odc-by, apache-2.0, ...) or a name, which is "
        "written as 'other' with that name (add --license-link)",
    )
    parser.add_argument("--license-link", help="URL of the license text")
    parser.add_argument("--name", help="the dataset's title (default: from the corpus)")
    parser.add_argument("--corpus-name", help="the corpus, in words (default: from the manifests)")
    parser.add_argument("--description", help="a paragraph for the card")
    parser.add_argument(
        "--language",
        nargs="+",
        default=["en"],
        help="ISO 639-1 codes of the queries' language(s) (default: en)",
    )
    parser.add_argument(
        "--allow-missing-manifests",
        action="store_true",
        help="publish even when a stage's manifest is missing or does not match the files "
        "(the card lists what is not recorded)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset folder that inpars.publish made earlier at --output (any "
        "other folder, or one holding files its SHA256SUMS does not list, is refused)",
    )
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="then upload the folder to this Hugging Face dataset repository (needs a token: "
        "HF_TOKEN or `hf auth login`)",
    )
    _add_hub_flags(parser)
    return parser


def _add_hub_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--private",
        action="store_true",
        help="the repository must be private: a new one is created private, and an existing "
        "public one is refused (nothing is uploaded) unless --make-private",
    )
    parser.add_argument(
        "--make-private",
        action="store_true",
        help="with --private: turn an existing public repository private before uploading",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the Hub to answer before giving up",
    )


def build_verify_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "publish",
        "Check the SHA-256 of every file a dataset folder's SHA256SUMS lists. Exit status 0 "
        "when all match, 1 when a file is missing or differs.",
        prog="python -m inpars.publish verify",
    )
    parser.add_argument("folder", help="a dataset folder (made by inpars.publish or downloaded)")
    return parser


def build_push_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "publish",
        "Verify a dataset folder and upload it to the Hugging Face Hub.",
        prog="python -m inpars.publish push",
    )
    parser.add_argument("folder", help="a folder made by python -m inpars.publish")
    parser.add_argument("--repo-id", required=True, help="the dataset repository, USER/NAME")
    _add_hub_flags(parser)
    return parser


def print_summary(summary: PublishSummary, console: Any) -> None:
    table = summary_table(f"inpars.publish → {summary.output}")
    table.add_row("queries", f"{summary.queries:,}")
    table.add_row("documents", f"{summary.documents:,}")
    table.add_row("triples", f"{summary.triples:,}")
    table.add_row("manifests", ", ".join(summary.stages) or "none")
    table.add_row("files", f"{summary.files:,} ({summary.bytes / 1e6:,.1f} MB)")
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    console.print(table)
    for note in summary.notes:
        say("provenance note:", note, "yellow", console)


def print_verify(result: VerifyResult, folder: str, console: Any) -> None:
    for name in result.missing:
        say("missing:", name, "bold red", console)
    for name in result.mismatched:
        say("checksum mismatch:", name, "bold red", console)
    for name in result.unlisted:
        say(f"not in {SUMS_FILE}:", name, "bold red", console)
    if result.ok:
        say(
            "OK:",
            f"the {len(result.checked)} files in {folder} are exactly those {SUMS_FILE} lists",
            "green",
            console,
        )
    elif result.empty:
        say("FAILED:", f"{SUMS_FILE} lists no files, so it vouches for none", "bold red", console)
    else:
        console.print(
            f"[bold red]FAILED[/]: {len(result.mismatched)} changed, {len(result.missing)} "
            f"missing, {len(result.unlisted)} not listed, {len(result.checked)} OK"
        )


def _push(folder: str, repo_id: str, args: argparse.Namespace) -> str:
    return push_to_hub(
        folder,
        repo_id,
        private=args.private,
        make_private=args.make_private,
        timeout=args.timeout,
    )


@command(build_parser, interrupted=NOTHING_WRITTEN)
def _publish_main(args: argparse.Namespace) -> int:
    console = stderr_console()
    summary = publish(config_from_args(
        PublishConfig, args, language=tuple(args.language), repo_id=args.push_to_hub
    ))  # fmt: skip
    print_summary(summary, console)
    if args.push_to_hub:
        try:
            url = _push(summary.output, args.push_to_hub, args)
        except InparsError as exc:
            print_error(exc, console)
            say("", f"The dataset folder {summary.output} is complete.", console=console)
            return 3
        say("uploaded:", url, "green", console)
    return 0


@command(build_verify_parser, interrupted=NOTHING_WRITTEN)
def _verify_main(args: argparse.Namespace) -> int:
    result = verify_bundle(args.folder)
    print_verify(result, args.folder, stderr_console())
    return 0 if result.ok else 1


@command(build_push_parser, interrupted="rerun the same command to upload the folder")
def _push_main(args: argparse.Namespace) -> None:
    say("uploaded:", _push(args.folder, args.repo_id, args), "green", stderr_console())


def main(argv: Sequence[str] | None = None) -> int:
    """``publish [flags]``, ``publish verify DIR`` or ``publish push DIR --repo-id ...``.

    Exit status: 0 done; 1 ``verify`` found a file missing or changed; 2 bad flags, input or
    settings; 3 the folder is complete but the upload failed; 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["verify"]:
        return _verify_main(argv[1:])
    if argv[:1] == ["push"]:
        return _push_main(argv[1:])
    return _publish_main(argv)


__all__ = [
    "build_parser",
    "build_push_parser",
    "build_verify_parser",
    "main",
    "print_summary",
    "print_verify",
]
