"""``python -m inpars.download``: the command line of :mod:`inpars.download`, which
``download_data.sh`` runs (users run the script, not this).

Not a stage and not :func:`inpars.cli.command.command`: its messages are the script's
(``download_data.sh: error: ...``, plain text) and a failed download exits with status 1,
the script's own failure status, where a stage exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from inpars.download import fetch_hub_file, write_beir, write_msmarco_passage
from inpars.errors import InparsError

#: The name the messages go under: the script's.
PROG = "download_data.sh"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.download",
        description="The library half of download_data.sh (run that script instead).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    beir = commands.add_parser("beir", help="a BEIR collection through ir_datasets")
    beir.add_argument("name")
    beir.add_argument("dest")
    msmarco = commands.add_parser("msmarco-passage", help="MS MARCO passage through ir_datasets")
    msmarco.add_argument("dest")
    hub = commands.add_parser("hub", help="one file of a Hub dataset (snapshot_download)")
    hub.add_argument("repo_id")
    hub.add_argument("filename")
    hub.add_argument("dest")
    return parser


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``beir NAME DEST | msmarco-passage DEST | hub REPO FILE DEST``; 0, or 1 when the
    download fails (the reason on one line)."""
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        if args.command == "beir":
            write_beir(args.name, args.dest)
            _say(f"ready: {args.dest} (from ir_datasets' beir/{args.name}, MD5-checked)")
        elif args.command == "msmarco-passage":
            write_msmarco_passage(args.dest)
            _say(f"ready: {args.dest} (from ir_datasets' msmarco-passage, MD5-checked)")
        else:
            checked = fetch_hub_file(args.repo_id, args.filename, args.dest)
            _say(
                f"sha256 OK: {Path(args.dest).name}"
                if checked
                else "no SHA-256 on the Hub for this file: not verified"
            )
            _say(f"ready: {args.dest}")
    except InparsError as error:
        _say(f"error: {error}")
        return 1
    return 0


__all__ = ["PROG", "build_parser", "main"]
