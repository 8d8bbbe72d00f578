"""``python -m inpars.java``: the command line of :mod:`inpars.java`.

Without arguments it prints the Java runtime inpars chooses for Pyserini; ``-m MODULE ARGS``
runs a Pyserini command-line module after the JVM setup (:func:`inpars.java.run_module`),
handing it every argument after ``MODULE`` unread, ``--help`` included.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from inpars.cli.command import command
from inpars.java import prepare_jvm, run_module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.java",
        description="Show the Java runtime inpars chooses for Pyserini, or run a Pyserini "
        "command-line module with that setup applied (plain `python -m pyserini...` fails "
        "when the system Java is older than 21).",
        epilog="Example: python -m inpars.java -m pyserini.search.lucene --help",
    )
    parser.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run this module (e.g. pyserini.index.lucene) after the JVM setup; every "
        "argument after MODULE is passed to it unread",
    )
    return parser


def _java(args: argparse.Namespace, module_args: Sequence[str]) -> None:
    if args.module:
        run_module(args.module, module_args)
        return
    setup = prepare_jvm()
    runtime = setup.runtime
    if runtime is not None:
        print(f"Java {runtime.version} from {runtime.source}: {runtime.home}")
    for option in setup.dropped_options:
        print(f"dropped JVM option {option} (the runtime lacks the module)")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # "-m MODULE ..." hands everything after MODULE to the module, --help included: only
    # what comes before is parsed here.
    own, module_args = (args[:2], args[2:]) if len(args) >= 2 and args[0] == "-m" else (args, [])
    run = command(build_parser, interrupted="the module was stopped")
    return run(functools.partial(_java, module_args=module_args))(own)


__all__ = ["build_parser", "main"]
