"""The user documentation holds together: every relative link in README.md, docs/ and bench/
reaches a file that exists and, with ``#anchor``, a heading in it (GitHub's anchors); the
README stays a guide of about 25 KB, with the details in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md"]
_LINK = re.compile(r"\[(?:[^\]]|\][^(])*?\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def anchors(path: Path) -> set[str]:
    """The ``#anchors`` GitHub gives the headings of a Markdown file (duplicates numbered)."""
    seen: dict[str, int] = {}
    found = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file, outside code blocks."""
    return _LINK.findall(_FENCE.sub("", path.read_text(encoding="utf-8")))


def test_anchor_rules_match_github() -> None:
    assert "downloading-data-download_datash" in anchors(REPO / "docs" / "reference.md")
    assert "filter-python--m-inparsfilter" in anchors(REPO / "docs" / "reference.md")
    assert links(REPO / "README.md")  # the pattern finds links at all


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        destination = (doc.parent / file).resolve() if file else doc
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert broken == []


def test_the_readme_is_a_guide_of_about_25_kb() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 25_600
    headings = re.findall(r"^## (.*)$", _FENCE.sub("", readme), re.M)
    for needed in ("Set-up", "Five-minute walk-through", "Stages", "File formats",
                   "Resuming and reruns", "Scaling up", "Coming from InPars"):  # fmt: skip
        assert needed in headings
