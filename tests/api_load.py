"""A synthetic corpus, a prompt and an audit of the output, for load runs of the openai engine.

Shared by the load test (tests/test_openai_load.py) and the benchmark (bench/bench_api.py).
The prompt ends with the document, so the fake server's answer (``query about <last line>``)
names the document it was asked about: the audit can tell a query given to the wrong document
from a right one, not only count them.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WORDS = (
    "boundary", "layer", "flow", "pressure", "wing", "shock", "heat", "transfer", "laminar",
    "turbulent", "nozzle", "slender", "body", "supersonic", "hypersonic", "cylinder", "plate",
    "buckling", "shell", "stress", "vibration", "wake",
)

TEMPLATE = """\
Write a search query for which the document is relevant.

Document: The boundary layer on a flat plate in supersonic flow was measured with probes.
Relevant query: supersonic flat plate boundary layer measurements

Document: Buckling loads of thin cylindrical shells under axial compression are computed.
Relevant query: buckling of cylindrical shells in compression

Document: Heat transfer to a blunt body at hypersonic speed depends on the nose radius.
Relevant query: hypersonic heat transfer blunt nose

Document: {document}
"""


def doc_id(index: int) -> str:
    return f"d{index:06d}"


def write_corpus(path: Path, count: int, words_per_doc: int = 40, seed: int = 0) -> list[str]:
    """``count`` short one-line documents as BEIR-style JSONL; returns their ids in order.

    Each text starts with ``doc <id>`` so that a query can be traced back to its document.
    """
    rng = random.Random(seed)
    ids = [doc_id(i) for i in range(count)]
    with path.open("w", encoding="utf-8") as f:
        for identifier in ids:
            text = " ".join([f"doc {identifier}", *rng.choices(WORDS, k=words_per_doc)])
            f.write(json.dumps({"_id": identifier, "title": "", "text": text}) + "\n")
    return ids


def write_template(path: Path) -> Path:
    """A plain-text few-shot prompt (three examples) whose last line is the document."""
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


@dataclass
class Audit:
    """What an output holds against what it should: every document, each query index once."""

    expected: int = 0  # (document, query index) pairs wanted
    records: int = 0  # lines in the output
    lost: list[tuple[str, int]] = field(default_factory=list)  # wanted, absent
    duplicated: list[tuple[str, int]] = field(default_factory=list)  # present more than once
    unexpected: list[tuple[str, int]] = field(default_factory=list)  # not wanted at all
    misattributed: list[tuple[str, int]] = field(default_factory=list)  # another doc's answer

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.misattributed)

    def summary(self) -> str:
        return (
            f"{self.records} records for {self.expected} wanted: {len(self.lost)} lost, "
            f"{len(self.duplicated)} duplicated, {len(self.unexpected)} unexpected, "
            f"{len(self.misattributed)} given to the wrong document"
        )


def audit_output(output: Path, doc_ids: list[str], queries_per_doc: int) -> Audit:
    """Counts the output's records per (doc_id, query_index) against the documents asked for."""
    counts: Counter[tuple[str, int]] = Counter()
    audit = Audit(expected=len(doc_ids) * queries_per_doc)
    with output.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            key = (str(record["doc_id"]), int(record["query_index"]))
            counts[key] += 1
            audit.records += 1
            if f"doc {key[0]}" not in record["query"]:
                audit.misattributed.append(key)
    wanted = {(identifier, index) for identifier in doc_ids for index in range(queries_per_doc)}
    audit.lost = sorted(wanted - set(counts))
    audit.duplicated = sorted(key for key, count in counts.items() if count > 1)
    audit.unexpected = sorted(set(counts) - wanted)
    return audit
