"""The command line: ``python -m inpars.publish``, ``... verify DIR``, ``... push DIR``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from inpars.errors import InparsError
from inpars.progress import console_warnings, print_error, say, stderr_console, summary_table
from inpars.publish.bundle import PublishSummary, publish
from inpars.publish.config import PublishConfig
from inpars.publish.hub import push_to_hub
from inpars.publish.layout import SUMS_FILE
from inpars.publish.reader import VerifyResult, verify_bundle


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish",
        description="Bundle a run into a dataset folder: the filtered queries, the triples "
        "(JSON Lines with ids, and TSV), the run manifests of every stage, statistics, a "
        "Hugging Face dataset card (README.md) and SHA256SUMS. Optionally upload it to the "
        "Hugging Face Hub.",
        epilog="Other commands: 'python -m inpars.publish verify DIR' checks a folder's "
        "SHA256SUMS (e.g. after downloading it); 'python -m inpars.publish push DIR --repo-id "
        "USER/NAME' uploads a folder made earlier.",
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
    _add_visibility_flags(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the Hub to answer before giving up (default: %(default)s)",
    )
    return parser


def _add_visibility_flags(parser: argparse.ArgumentParser) -> None:
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


def build_verify_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish verify",
        description="Check the SHA-256 of every file a dataset folder's SHA256SUMS lists. Exit "
        "status 0 when all match, 1 when a file is missing or differs.",
    )
    parser.add_argument("folder", help="a dataset folder (made by inpars.publish or downloaded)")
    return parser


def build_push_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish push",
        description="Verify a dataset folder and upload it to the Hugging Face Hub.",
    )
    parser.add_argument("folder", help="a folder made by python -m inpars.publish")
    parser.add_argument("--repo-id", required=True, help="the dataset repository, USER/NAME")
    _add_visibility_flags(parser)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")
    return parser


def config_from_args(args: argparse.Namespace) -> PublishConfig:
    return PublishConfig(
        queries=args.queries,
        output=args.output,
        license=args.license,
        triples=args.triples,
        triples_jsonl=args.triples_jsonl,
        name=args.name,
        corpus_name=args.corpus_name,
        description=args.description,
        license_link=args.license_link,
        language=tuple(args.language),
        repo_id=args.push_to_hub,
        allow_missing_manifests=args.allow_missing_manifests,
        overwrite=args.overwrite,
    )


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


@console_warnings()
def main(argv: list[str] | None = None) -> int:
    console = stderr_console()
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else None
    try:
        if command == "verify":
            args = build_verify_parser().parse_args(argv[1:])
            result = verify_bundle(args.folder)
            print_verify(result, args.folder, console)
            return 0 if result.ok else 1
        if command == "push":
            args = build_push_parser().parse_args(argv[1:])
            url = push_to_hub(
                args.folder,
                args.repo_id,
                private=args.private,
                make_private=args.make_private,
                timeout=args.timeout,
            )
            say("uploaded:", url, "green", console)
            return 0
        args = build_parser().parse_args(argv)
        summary = publish(config_from_args(args))
    except InparsError as exc:
        print_error(exc, console)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: nothing was written[/]")
        return 130
    print_summary(summary, console)
    if args.push_to_hub:
        try:
            url = push_to_hub(
                summary.output,
                args.push_to_hub,
                private=args.private,
                make_private=args.make_private,
                timeout=args.timeout,
            )
        except InparsError as exc:
            print_error(exc, console)
            say("", f"The dataset folder {summary.output} is complete.", console=console)
            return 3
        say("uploaded:", url, "green", console)
    return 0
