"""PublishConfig: the settings of :func:`~inpars.publish.publish`, checked before any work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from inpars.errors import InparsError, InputError
from inpars.publish.reader import check_replaceable

# License identifiers the Hugging Face Hub accepts in a card's `license:` field
# (https://huggingface.co/docs/hub/repositories-licenses). Anything else is written as
# `license: other` with the given text as `license_name`.
HUB_LICENSES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
    bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
    bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
    cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
    cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0
    etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc
    lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense
    zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 gemma
    unknown other
    """.split()  # noqa: SIM905 (a word list reads better than 75 quoted strings)
)


@dataclass(frozen=True)
class PublishConfig:
    """Everything :func:`publish` needs; the CLI flags map one to one."""

    queries: str  # filtered queries (inpars.filter output)
    output: str  # the dataset folder to create
    license: str  # the license of the source corpus: a Hub identifier or a name
    triples: str | None = None  # the triples TSV (inpars.triples --output)
    triples_jsonl: str | None = None  # default: the TSV with a .jsonl suffix
    name: str | None = None  # the card's title (pretty_name)
    corpus_name: str | None = None  # default: the generation manifest's corpus
    description: str | None = None
    license_link: str | None = None
    language: tuple[str, ...] = ("en",)
    repo_id: str | None = None  # the Hub repository, for the card's loading examples
    allow_missing_manifests: bool = False
    overwrite: bool = False

    @property
    def triples_jsonl_path(self) -> Path | None:
        if self.triples is None:
            return None
        return (
            Path(self.triples_jsonl)
            if self.triples_jsonl
            else Path(self.triples).with_suffix(".jsonl")
        )

    @property
    def hub_license(self) -> str:
        """The card's ``license:`` value: the given identifier, or ``other``."""
        return self.license.lower() if self.license.lower() in HUB_LICENSES else "other"

    def check(self) -> None:
        """Raises InparsError for settings or inputs that cannot work."""
        if not self.license.strip():
            raise InparsError("--license is required: the license of the source corpus")
        if not Path(self.queries).is_file():
            raise InputError("no such file", self.queries)
        inputs = [Path(self.queries)]
        if self.triples is not None:
            jsonl = self.triples_jsonl_path
            assert jsonl is not None
            for path in (Path(self.triples), jsonl):
                if not path.is_file():
                    raise InputError(
                        "no such file (pass the TSV that inpars.triples wrote as --triples; "
                        "its JSON Lines must be beside it, or name it with --triples-jsonl)",
                        path,
                    )
                inputs.append(path)
        output = Path(self.output).resolve()
        for path in inputs:
            if output == path.resolve() or output in path.resolve().parents:
                raise InparsError(f"--output must not be or contain an input ({path})")
        if output.exists() or output.is_symlink():
            if not self.overwrite:
                raise InparsError(f"{self.output} exists; pass --overwrite to replace it")
            check_replaceable(self.output)
        if self.repo_id is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo_id):
            raise InparsError(
                f"--push-to-hub needs a repository id USER/NAME, got {self.repo_id!r}"
            )
