"""inpars.publish: a real generate -> filter -> triples run bundled into a dataset folder that
loads with 🤗 Datasets and with inpars' readers; provenance checks, checksums, the Hub push's
failure paths."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fake_hub import FakeHub
from fake_hub import Repo as HubRepo
from images import pixels_with_colour, png_size

from inpars.artifacts import file_sha256
from inpars.cli.publish import main
from inpars.engines.base import Generation, Request, SamplingParams
from inpars.errors import InparsError, InputError
from inpars.filter import FilterConfig, filter_queries
from inpars.generate import GenerateConfig, generate
from inpars.publish import (
    PublishConfig,
    describe,
    load_bundle,
    publish,
    size_category,
    verify_bundle,
)
from inpars.records import Triple
from inpars.triples import TriplesConfig, make_triples, read_query_rows

from conftest import REPO


class WordPickEngine:
    """A stand-in generator: each query is a few words of the prompt's document, with
    made-up log-probabilities, deterministic per prompt. Runs through the real generate()."""

    name = "fake"
    model = "word-picker"
    tokenizer = None
    context_length = None

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        out = []
        for request in requests:
            prompt, n = request.prompt, request.n
            document = prompt.rsplit("Document:", 1)[1].rsplit("Relevant Query:", 1)[0]
            words = re.findall(r"[A-Za-z]+", document)
            digest = hashlib.blake2b(prompt.encode(), digest_size=8).digest()
            rng = random.Random(int.from_bytes(digest, "big"))
            generations = []
            for _ in range(n):
                picked = [w.lower() for w in rng.sample(words, rng.randint(2, 6))]
                tokens = [" " + word for word in picked]
                generations.append(
                    Generation(
                        text=" ".join(picked),
                        tokens=tokens,
                        log_probs=[round(-rng.random() * 3, 4) for _ in tokens],
                        finish_reason="stop",
                        prompt_tokens=len(prompt.split()),
                        completion_tokens=len(tokens),
                    )
                )
            out.append(generations)
        return out

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A complete run over the bundled sample corpus (27 documents)."""
    root = tmp_path_factory.mktemp("run")
    generated, filtered, tsv = root / "queries.jsonl", root / "filtered.jsonl", root / "t.tsv"
    config = GenerateConfig(
        corpus="sample", output=str(generated), num_queries_per_doc=3, temperature=0.7, seed=3
    )
    generate(WordPickEngine(), config, show_progress=False)
    filter_queries(
        FilterConfig(
            input=str(generated),
            output=str(filtered),
            corpus="sample",
            keep_top_k=40,
            max_per_doc=2,
        )
    )
    make_triples(TriplesConfig(queries=str(filtered), corpus="sample", output=str(tsv), depth=20))
    return {"root": root, "generated": generated, "queries": filtered, "triples": tsv}


@pytest.fixture(scope="module")
def bundle(run: dict[str, Path]) -> Path:
    output = run["root"] / "dataset"
    publish(
        PublishConfig(
            queries=str(run["queries"]),
            triples=str(run["triples"]),
            output=str(output),
            license="cc0-1.0",
            corpus_name="the amendments to the US Constitution",
        )
    )
    return output


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(path)]


def card_metadata(path: Path) -> dict[str, Any]:
    from huggingface_hub import DatasetCard

    return DatasetCard.load(path).data.to_dict()


# --- the folder ---------------------------------------------------------------------------


def test_the_folder_holds_the_run_and_its_checksums(run: dict[str, Path], bundle: Path) -> None:
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert names == [
        "README.md",
        "SHA256SUMS",
        "manifests/filter.manifest.json",
        "manifests/generate.manifest.json",
        "manifests/triples.manifest.json",
        "plots/dropped_per_rule.png",
        "plots/queries_per_document.png",
        "plots/query_length.png",
        "plots/scores.png",
        "queries.jsonl",
        "stats.json",
        "triples.jsonl",
        "triples.tsv",
    ]
    assert records(bundle / "queries.jsonl") == records(run["queries"])
    assert (bundle / "triples.tsv").read_bytes() == run["triples"].read_bytes()
    assert (bundle / "triples.jsonl").read_bytes() == run["triples"].with_suffix(
        ".jsonl"
    ).read_bytes()
    manifests = load_bundle(bundle).manifests()
    assert manifests["generate"]["model"] == "word-picker"
    assert manifests["generate"]["config"]["temperature"] == 0.7
    assert manifests["filter"]["config"]["keep_top_k"] == 40
    assert manifests["triples"]["config"]["depth"] == 20
    assert {m["inpars_version"] for m in manifests.values()} == {"0.1.0"}
    listed = dict(reversed(line.split("  ", 1)) for line in lines(bundle / "SHA256SUMS"))
    assert sorted(listed) == [name for name in names if name != "SHA256SUMS"]
    for name, digest in listed.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest
    assert verify_bundle(bundle).ok
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True)
        assert check.returncode == 0, check.stdout
    assert not list(bundle.parent.glob(".dataset.*"))  # no building leftovers


def test_the_card_is_a_hugging_face_dataset_card(bundle: Path) -> None:
    metadata = card_metadata(bundle / "README.md")
    assert metadata["license"] == "cc0-1.0"
    assert metadata["task_categories"] == ["text-retrieval"]
    assert metadata["size_categories"] == ["n<1K"]
    assert metadata["language"] == ["en"]
    assert metadata["configs"] == [
        {"config_name": "queries", "data_files": [{"split": "train", "path": "queries.jsonl"}],
         "default": True},
        {"config_name": "triples", "data_files": [{"split": "train", "path": "triples.jsonl"}]},
    ]  # fmt: skip
    text = (bundle / "README.md").read_text()
    for heading in ("## How it was made", "## Fields", "## How to load", "## Intended use",
                    "## Limitations", "## License", "## Statistics"):  # fmt: skip
        assert f"\n{heading}\n" in text
    assert "model: `word-picker` via the `fake` engine" in text
    assert "temperature 0.7" in text and "seed 3" in text
    assert "score: `mean_log_probs`; kept the top 40, at most 2 per document" in text
    assert "from the top 20" in text
    assert "the amendments to the US Constitution, licensed cc0-1.0" in text
    assert "Provenance notes" not in text


def test_statistics_describe_the_files(run: dict[str, Path], bundle: Path) -> None:
    stats = load_bundle(bundle).stats()
    queries = records(bundle / "queries.jsonl")
    triples = records(bundle / "triples.jsonl")
    assert stats["queries"] == len(queries) == 40
    assert stats["documents"] == len({q["doc_id"] for q in queries})
    assert stats["queries_per_document"]["max"] == 2  # --max-per-doc
    assert stats["corpus_documents"] == 27
    dropped = stats["filter"]["dropped"]
    assert stats["filter"]["read"] == len(lines(run["generated"])) == 81
    assert stats["filter"]["read"] - sum(dropped.values()) == stats["filter"]["kept"] == 40
    scores = [q["score"] for q in queries]
    assert (stats["score"]["min"], stats["score"]["max"]) == (
        pytest.approx(min(scores)),
        pytest.approx(max(scores)),
    )
    assert sum(stats["score"]["histogram"]["counts"]) == 40
    words = stats["query_words"]
    assert sum(words["counts"].values()) == 40
    assert words["counts"] == {
        str(n): sum(len(q["query"].split()) == n for q in queries)
        for n in sorted({len(q["query"].split()) for q in queries})
    }
    assert stats["triples"]["triples"] == len(triples)
    assert stats["triples"]["queries_with_triples"] == len(
        {(t["query"], t["pos_id"]) for t in triples}
    )


def test_statistics_and_card_account_for_every_filter_rule(
    run: dict[str, Path], tmp_path: Path
) -> None:
    # stats.json and the card once left out copied_example, short_document and inconsistent
    # (the round trip): read minus dropped was not kept, and the card never named them.
    from inpars.filter import DROP_RULES, FilterSummary

    queries = tmp_path / "filtered.jsonl"
    shutil.copy(run["queries"], queries)
    manifest = json.loads(Path(f"{run['queries']}.manifest.json").read_text())
    counters = [f.name for f in dataclasses.fields(FilterSummary) if f.type in ("int", int)]
    assert sorted(rule.name for rule in DROP_RULES) == sorted(set(counters) - {"read", "kept"})
    for number, rule in enumerate(DROP_RULES, start=1):
        manifest["summary"][rule.name] = number  # every rule dropped some records
        if rule.switch is not None:
            manifest["summary"][rule.switch] = True
    manifest["summary"]["read"] = manifest["summary"]["kept"] + sum(range(len(DROP_RULES) + 1))
    manifest["config"].update(min_doc_words=5, consistency_model="all-MiniLM-L6-v2",
                              consistency_depth=50)  # fmt: skip
    Path(f"{queries}.manifest.json").write_text(json.dumps(manifest))
    output = tmp_path / "ds"
    publish(PublishConfig(queries=str(queries), output=str(output), license="cc0-1.0"))
    filtered = json.loads((output / "stats.json").read_text())["filter"]
    assert list(filtered["dropped"]) == [rule.name for rule in DROP_RULES]
    assert filtered["read"] - sum(filtered["dropped"].values()) == filtered["kept"] == 40
    card = (output / "README.md").read_text()
    method = card.split("## How it was made")[1].split("\n## ")[0]
    statistics = card.split("## Statistics")[1].split("\n## ")[0]
    for number, rule in enumerate(DROP_RULES, start=1):
        assert f"{rule.label}: {number:,}" in method
        assert f"| dropped: {rule.label} | {number:,} |" in statistics
    assert "round trip: `all-MiniLM-L6-v2`" in method and "top 50" in method
    assert "fewer than 5 words" in method  # --min-doc-words
    # A rule that did not run says so rather than counting zero.
    manifest["summary"].update(inconsistent=0, consistency_checked=False)
    manifest["summary"]["read"] -= DROP_RULES.index(
        next(r for r in DROP_RULES if r.name == "inconsistent")
    ) + 1
    Path(f"{queries}.manifest.json").write_text(json.dumps(manifest))
    publish(PublishConfig(queries=str(queries), output=str(output), license="cc0-1.0",
                          overwrite=True))  # fmt: skip
    card = (output / "README.md").read_text()
    assert "failed the round trip: not checked" in card
    assert "| dropped: failed the round trip | not checked |" in card


def test_the_folder_shows_its_statistics_as_plots(bundle: Path) -> None:
    card = (bundle / "README.md").read_text()
    listed = {line.split("  ", 1)[1] for line in lines(bundle / "SHA256SUMS")}
    for name in ("scores", "dropped_per_rule", "query_length", "queries_per_document"):
        path = bundle / "plots" / f"{name}.png"
        assert png_size(path) == (800, 500)
        assert f"plots/{name}.png" in listed
        assert re.search(rf"\n!\[[^\]]+\]\(plots/{name}\.png\)\n", card), name
    # The score plot shows the kept queries, the dropped ones (read from the filter's input)
    # and the cut between them.
    scores = bundle / "plots" / "scores.png"
    kept, dropped, cut = (
        pixels_with_colour(scores, colour, tolerance=2)
        for colour in ((0x1F, 0x77, 0xB4), (0xC7, 0xC7, 0xC7), (0xD6, 0x27, 0x28))
    )
    assert kept and dropped and cut
    # Along the x axis (the bars' feet; the legend is above them): dropped bars reach left of
    # every kept one, and the cut lies between the lowest dropped and the highest kept.
    axis = max(y for _, y in kept)

    def feet(pixels: list[tuple[int, int]]) -> list[int]:
        return sorted(x for x, y in pixels if axis - 3 <= y <= axis)

    assert feet(kept) and feet(dropped) and feet(cut)
    assert min(feet(dropped)) < min(feet(kept)) and min(feet(dropped)) < min(feet(cut))
    assert min(feet(cut)) < max(feet(kept))


def test_plots_pass_over_lines_the_filter_skipped(run: dict[str, Path], tmp_path: Path) -> None:
    # The score plot re-reads the filter's input; a line the filter skipped as invalid must
    # not stop publish.
    generated = tmp_path / "generated.jsonl"
    generated.write_text(run["generated"].read_text() + "{not json\n[1, 2]\n")
    filtered = tmp_path / "filtered.jsonl"
    summary = filter_queries(FilterConfig(input=str(generated), output=str(filtered),
                                          keep_top_k=10, skip_invalid=True))  # fmt: skip
    assert summary.invalid == 2
    output = tmp_path / "ds"
    publish(PublishConfig(queries=str(filtered), output=str(output), license="cc0-1.0",
                          allow_missing_manifests=True))  # fmt: skip
    assert png_size(output / "plots" / "scores.png") == (800, 500)
    assert pixels_with_colour(output / "plots" / "scores.png", (0xC7, 0xC7, 0xC7), tolerance=2)


def test_describe_and_size_categories() -> None:
    summary = describe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert summary is not None
    assert (summary["min"], summary["max"], summary["mean"]) == (1, 11, 6.0)
    assert summary["quantiles"] == {"p5": 1.5, "p25": 3.5, "p50": 6.0, "p75": 8.5, "p95": 10.5}
    assert summary["histogram"]["counts"] == [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]  # max in the last
    assert summary["histogram"]["edges"][0] == 1 and summary["histogram"]["edges"][-1] == 11
    assert describe([2.5, 2.5])["histogram"] == {"edges": [2.5, 2.5], "counts": [2]}
    assert describe([]) is None
    assert [size_category(n) for n in (0, 999, 1000, 99_999, 100_000, 2_000_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "n>1B",
    ]  # fmt: skip


# --- loading it ---------------------------------------------------------------------------


def test_loads_with_hugging_face_datasets(bundle: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    cache = str(tmp_path / "cache")
    queries = datasets.load_dataset(
        "json", data_files=str(bundle / "queries.jsonl"), split="train", cache_dir=cache
    )
    assert queries.num_rows == 40
    assert {"doc_id", "query", "score", "log_probs", "tokens"} <= set(queries.column_names)
    assert queries[0]["query"] == records(bundle / "queries.jsonl")[0]["query"]
    triples = datasets.load_dataset(
        "json", data_files=str(bundle / "triples.jsonl"), split="train", cache_dir=cache
    )
    assert triples.num_rows == len(lines(bundle / "triples.tsv"))
    assert triples.features["neg_rank"].dtype == "int64"
    # The card's configs, read the way the Hub reads them.
    by_config = datasets.load_dataset(str(bundle), "triples", split="train", cache_dir=cache)
    assert by_config.num_rows == triples.num_rows


def test_loads_with_inpars_readers(bundle: Path, tmp_path: Path) -> None:
    loaded = load_bundle(bundle)
    queries = list(loaded.queries())
    triples = list(loaded.triples())
    assert len(queries) == 40 and all(isinstance(t, Triple) for t in triples)
    keys = {(q["query"], q["doc_id"]) for q in queries}
    assert all((t.query, t.pos_id) in keys for t in triples)
    # The queries go straight back into inpars.triples and inpars.filter.
    rows = list(read_query_rows(str(loaded.queries_path)))
    assert [(r.query, r.doc_id, r.score) for r in rows] == [
        (q["query"], q["doc_id"], q["score"]) for q in queries
    ]
    refiltered = filter_queries(
        FilterConfig(
            input=str(loaded.queries_path), output=str(tmp_path / "top5.jsonl"), keep_top_k=5
        )
    )
    assert refiltered.read == 40 and refiltered.kept == 5 and refiltered.invalid == 0
    with pytest.raises(InputError, match="not an inpars dataset folder"):
        load_bundle(tmp_path)


# --- checking it --------------------------------------------------------------------------


def test_verify_finds_changed_missing_and_extra_files(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / ".gitattributes").write_text("*.jsonl filter=lfs\n")  # added by a Hub download
    (copy / ".cache" / "huggingface").mkdir(parents=True)
    (copy / ".cache" / "huggingface" / "x.lock").write_text("")
    assert main(["verify", str(copy)]) == 0
    assert "OK" in capsys.readouterr().err
    data = bytearray((copy / "triples.tsv").read_bytes())
    data[10] ^= 1
    (copy / "triples.tsv").write_bytes(bytes(data))
    (copy / "stats.json").unlink()
    (copy / "notes.txt").write_text("mine")
    result = verify_bundle(copy)
    assert not result.ok
    assert (result.mismatched, result.missing, result.unlisted) == (
        ["triples.tsv"],
        ["stats.json"],
        ["notes.txt"],
    )
    assert main(["verify", str(copy)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "checksum mismatch: triples.tsv" in err and "missing: stats.json" in err
    (copy / "SHA256SUMS").write_text("abc  queries.jsonl\n")
    assert main(["verify", str(copy)]) == 2
    assert "SHA256SUMS:1: expected '<64 hex digits> <file>'" in " ".join(
        capsys.readouterr().err.split()
    )
    (copy / "SHA256SUMS").write_text(f"{'0' * 64}  ../outside\n")
    with pytest.raises(InputError, match="unsafe path"):
        verify_bundle(copy)


# --- provenance ---------------------------------------------------------------------------


def test_edited_queries_are_refused_unless_allowed(run: dict[str, Path], tmp_path: Path) -> None:
    edited = tmp_path / "filtered.jsonl"
    rows = records(run["queries"])
    rows[0]["query"] = "an edited query"
    edited.write_text("".join(json.dumps(row) + "\n" for row in rows))
    shutil.copy(f"{run['queries']}.manifest.json", f"{edited}.manifest.json")
    config = PublishConfig(queries=str(edited), output=str(tmp_path / "ds"), license="cc0-1.0")
    with pytest.raises(InparsError) as info:
        publish(config)
    assert "it changed after filtering" in str(info.value)
    assert "--allow-missing-manifests" in str(info.value)
    assert not (tmp_path / "ds").exists()
    summary = publish(replace(config, allow_missing_manifests=True))
    assert summary.queries == 40 and len(summary.notes) == 1
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "Provenance notes" in card and "it changed after filtering" in card
    assert "- model: `word-picker`" in card  # the generation manifest was still found


def test_missing_manifests_are_refused_unless_allowed(run: dict[str, Path], tmp_path: Path) -> None:
    bare = tmp_path / "queries.jsonl"
    shutil.copy(run["queries"], bare)
    config = PublishConfig(queries=str(bare), output=str(tmp_path / "ds"), license="cc0-1.0")
    with pytest.raises(InparsError, match="no manifest beside"):
        publish(config)
    publish(replace(config, allow_missing_manifests=True))
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "- not recorded (no generation manifest)" in card
    assert "- not recorded (no filter manifest)" in card
    assert not (tmp_path / "ds" / "triples.jsonl").exists()
    assert card_metadata(tmp_path / "ds" / "README.md")["configs"][0]["config_name"] == "queries"


def test_an_unreadable_manifest_is_a_provenance_note(run: dict[str, Path], tmp_path: Path) -> None:
    queries = tmp_path / "filtered.jsonl"
    shutil.copy(run["queries"], queries)
    Path(f"{queries}.manifest.json").write_text("{not json")
    config = PublishConfig(queries=str(queries), output=str(tmp_path / "ds"), license="mit")
    with pytest.raises(InparsError, match="not a readable JSON manifest"):
        publish(config)
    assert publish(replace(config, allow_missing_manifests=True)).queries == 40


def test_triples_from_other_queries_are_refused(run: dict[str, Path], tmp_path: Path) -> None:
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(f"{line}\n" for line in lines(run["queries"])[:10]))
    config = PublishConfig(
        queries=str(fewer),
        triples=str(run["triples"]),
        output=str(tmp_path / "ds"),
        license="cc0-1.0",
    )
    with pytest.raises(InparsError, match="the triples were made from other queries"):
        publish(config)
    # Even with manifests waived, every triple's query must be in the bundle.
    with pytest.raises(InputError) as info:
        publish(replace(config, allow_missing_manifests=True))
    assert info.value.path == str(run["triples"].with_suffix(".jsonl"))
    assert "is not among the queries" in str(info.value)
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


def test_settings_are_checked(run: dict[str, Path], bundle: Path, tmp_path: Path) -> None:
    config = PublishConfig(queries=str(run["queries"]), output=str(bundle), license="cc0-1.0")
    with pytest.raises(InparsError, match="exists; pass --overwrite"):
        publish(config)
    with pytest.raises(InparsError, match="--license is required"):
        publish(replace(config, output=str(tmp_path / "ds"), license=" "))
    with pytest.raises(InputError, match="no such file"):
        publish(replace(config, output=str(tmp_path / "ds"), triples=str(tmp_path / "t.tsv")))
    with pytest.raises(InparsError, match="repository id USER/NAME"):
        publish(replace(config, output=str(tmp_path / "ds"), repo_id="no-slash"))
    with pytest.raises(InparsError, match="must not be or contain an input"):
        publish(replace(config, output=str(run["root"]), overwrite=True))


def test_overwrite_and_a_license_the_hub_does_not_list(
    run: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "ds"
    first = PublishConfig(
        queries=str(run["queries"]), triples=str(run["triples"]), output=str(output),
        license="cc0-1.0",
    )  # fmt: skip
    publish(first)
    (output / ".cache").mkdir()  # what a Hub download adds is not the user's
    (output / ".cache" / "x.lock").write_text("")
    publish(
        PublishConfig(
            queries=str(run["queries"]),
            output=str(output),
            license="MS MARCO Terms and Conditions",
            license_link="https://microsoft.github.io/msmarco/",
            repo_id="someone/amendments-inpars",
            overwrite=True,
        )
    )
    assert not (output / "triples.tsv").exists() and verify_bundle(output).ok
    metadata = card_metadata(output / "README.md")
    assert metadata["license"] == "other"
    assert metadata["license_name"] == "ms-marco-terms-and-conditions"
    assert metadata["license_link"] == "https://microsoft.github.io/msmarco/"
    card = (output / "README.md").read_text()
    assert "licensed [MS MARCO Terms and Conditions](https://microsoft.github.io/msmarco/)" in card
    assert 'load_dataset("someone/amendments-inpars", "queries", split="train")' in card


def test_overwrite_replaces_only_a_dataset_folder(run: dict[str, Path], tmp_path: Path) -> None:
    # --overwrite once removed whatever sat at --output, e.g. a data folder.
    data = tmp_path / "data"
    data.mkdir()
    (data / "corpus.jsonl").write_text('{"_id": "1", "text": "precious"}\n')
    config = PublishConfig(
        queries=str(run["queries"]), output=str(data), license="cc0-1.0", overwrite=True
    )
    with pytest.raises(InparsError) as info:
        publish(config)
    message = str(info.value)
    assert f"{data} is not a dataset folder made by inpars.publish" in message
    assert "no SHA256SUMS" in message and "nothing was replaced" in message
    assert (data / "corpus.jsonl").read_text() == '{"_id": "1", "text": "precious"}\n'
    # A file, not a folder, at --output.
    with pytest.raises(InparsError, match=r"is not a dataset folder made by inpars\.publish"):
        publish(replace(config, output=str(data / "corpus.jsonl")))
    # A checksum file alone does not make a bundle: the card must be inpars'.
    (data / "SHA256SUMS").write_text(f"{hashlib.sha256(b'x').hexdigest()}  README.md\n")
    (data / "README.md").write_text("x")
    with pytest.raises(InparsError, match=r"its README\.md is not a card inpars\.publish wrote"):
        publish(config)
    # A bundle holding files of the user's, which SHA256SUMS does not list, is kept.
    bundle = tmp_path / "ds"
    publish(replace(config, output=str(bundle), overwrite=False))
    (bundle / "notes.md").write_text("my notes")
    with pytest.raises(InparsError) as info:
        publish(replace(config, output=str(bundle)))
    assert "files SHA256SUMS does not list: notes.md" in str(info.value)
    assert (bundle / "notes.md").read_text() == "my notes"
    (bundle / "notes.md").unlink()
    assert publish(replace(config, output=str(bundle))).queries == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ds"]


@pytest.mark.parametrize(
    ("bad", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")]
)
def test_a_non_finite_score_is_a_clear_error(
    run: dict[str, Path], tmp_path: Path, bad: str, shown: str
) -> None:
    queries = tmp_path / "filtered.jsonl"
    rows = lines(run["queries"])
    record = json.loads(rows[1])
    record.pop("score")
    rows[1] = json.dumps(record)[:-1] + f', "score": {bad}}}'  # Python's json reads these
    queries.write_text("".join(f"{row}\n" for row in rows))
    assert f'"score": {bad}' in queries.read_text()
    output = tmp_path / "ds"
    args = ["--queries", str(queries), "--output", str(output), "--license", "cc0-1.0",
            "--allow-missing-manifests"]  # fmt: skip
    done, _ = run_publish(args, hub_env(tmp_path))
    err = " ".join(done.stderr.split())
    assert done.returncode == 2, err
    assert f"{queries}:2, field 'score': must be a finite number, got {shown}" in err
    assert "Traceback" not in done.stderr and not output.exists()


def test_the_folder_keeps_local_paths_and_server_addresses_private(
    run: dict[str, Path], tmp_path: Path
) -> None:
    # Card notes and manifests once carried absolute local paths and the --base-url host.
    work = tmp_path / "alice" / "run"
    work.mkdir(parents=True)
    generated, queries = work / "generated.jsonl", work / "filtered.jsonl"
    shutil.copy(run["generated"], generated)
    shutil.copy(run["queries"], queries)
    gen_manifest = json.loads(Path(f"{run['generated']}.manifest.json").read_text())
    gen_manifest["engine_options"] = {"base_url": "http://10.1.2.3:8000/v1", "concurrency": 4}
    gen_manifest["config"].update(corpus="/srv/corpora/scifact", output=str(generated))
    Path(f"{generated}.manifest.json").write_text(json.dumps(gen_manifest))
    filter_manifest = json.loads(Path(f"{run['queries']}.manifest.json").read_text())
    filter_manifest["inputs"]["queries"]["path"] = str(generated)
    filter_manifest["summary"]["invalid_examples"] = [f"{generated}:7: malformed JSON"]
    Path(f"{queries}.manifest.json").write_text(json.dumps(filter_manifest))
    output = work / "dataset"
    summary = publish(PublishConfig(queries=str(queries), output=str(output), license="mit"))
    assert summary.notes == []
    published = {p.name: p.read_bytes().decode("latin-1") for p in output.rglob("*") if p.is_file()}
    for name, text in published.items():
        assert str(tmp_path.parent) not in text and "alice" not in text, name
        assert "10.1.2.3" not in text and "/srv/corpora" not in text, name
    generate = json.loads(published["generate.manifest.json"])
    assert generate["engine_options"] == {"base_url": "http://<host withheld>", "concurrency": 4}
    assert generate["config"]["corpus"] == "<local>/scifact"
    assert generate["config"]["output"] == "../generated.jsonl"  # relative to the folder
    filtered = json.loads(published["filter.manifest.json"])
    assert filtered["inputs"]["queries"]["path"] == "../generated.jsonl"
    assert filtered["inputs"]["queries"]["sha256"] == file_sha256(generated)  # checksums are kept
    assert filtered["summary"]["invalid_examples"] == ["../generated.jsonl:7: malformed JSON"]
    assert "corpus: `<local>/scifact`" in published["README.md"]
    assert "synthetic search queries for the documents of **scifact**" in published[
        "README.md"
    ].lower()
    # A provenance note names the file in full on the terminal, relative in the card.
    Path(f"{queries}.manifest.json").unlink()
    summary = publish(PublishConfig(queries=str(queries), output=str(output), license="mit",
                                    overwrite=True, allow_missing_manifests=True))  # fmt: skip
    assert summary.notes[0].startswith(f"no manifest beside {queries} (")
    card = (output / "README.md").read_text()
    assert "- no manifest beside ../filtered.jsonl (filtered.jsonl.manifest.json)" in card
    assert str(tmp_path) not in card


# --- the Hub ------------------------------------------------------------------------------


def hub_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment without any Hugging Face settings or token, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), NO_PROXY="127.0.0.1,localhost")
    env.update(overrides)
    return env


def run_publish(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "inpars.publish", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - start


def test_push_fails_fast_in_offline_mode_or_without_a_token(bundle: Path, tmp_path: Path) -> None:
    push = ["push", str(bundle), "--repo-id", "someone/amendments"]
    done, seconds = run_publish(push, hub_env(tmp_path, HF_HUB_OFFLINE="1", HF_TOKEN="hf_x"))
    assert done.returncode == 2 and seconds < 20
    assert "HF_HUB_OFFLINE is set, so nothing was uploaded" in " ".join(done.stderr.split())
    done, seconds = run_publish(push, hub_env(tmp_path))
    assert done.returncode == 2 and seconds < 20
    err = " ".join(done.stderr.split())
    assert "no Hugging Face token" in err and "so nothing was uploaded" in err


def test_publish_then_push_with_the_hub_unreachable(run: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "ds"
    args = ["--queries", str(run["queries"]), "--triples", str(run["triples"]),
            "--output", str(output), "--license", "cc0-1.0",
            "--push-to-hub", "someone/amendments"]  # fmt: skip
    env = hub_env(tmp_path, HF_TOKEN="hf_not_a_real_token", HF_ENDPOINT="http://127.0.0.1:9")
    done, seconds = run_publish(args, env)
    err = " ".join(done.stderr.split())
    assert done.returncode == 3 and seconds < 20, err
    assert "cannot reach the Hugging Face Hub at http://127.0.0.1:9" in err
    assert "nothing was uploaded" in err and "uploaded:" not in err
    assert f"The dataset folder {output} is complete" in err
    assert verify_bundle(output).ok
    assert "hf_not_a_real_token" not in done.stdout + done.stderr


class _RejectingHub(http.server.BaseHTTPRequestHandler):
    """A hub that refuses every token."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = b'{"error": "Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rejecting_hub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RejectingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_with_a_rejected_token(bundle: Path, tmp_path: Path, rejecting_hub: str) -> None:
    env = hub_env(tmp_path, HF_TOKEN="hf_revoked", HF_ENDPOINT=rejecting_hub)
    done, _ = run_publish(["push", str(bundle), "--repo-id", "someone/amendments"], env)
    assert done.returncode == 2
    assert "rejected the Hugging Face token (401); nothing was uploaded" in " ".join(
        done.stderr.split()
    )
    assert _RejectingHub.seen == ["/api/whoami-v2"]  # asked who we are, uploaded nothing


def test_push_refuses_a_folder_failing_its_checksums(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "queries.jsonl").write_text("{}\n")
    done, _ = run_publish(
        ["push", str(copy), "--repo-id", "someone/amendments"],
        hub_env(tmp_path, HF_TOKEN="hf_x", HF_ENDPOINT="http://127.0.0.1:9"),
    )
    assert done.returncode == 2
    assert "fails its checksums (changed: queries.jsonl" in " ".join(done.stderr.split())


def push(folder: Path, repo_id: str, hub: FakeHub, tmp_path: Path, *flags: str) -> Any:
    """``python -m inpars.publish push`` against the fake hub, with the real HfApi."""
    env = hub_env(tmp_path, HF_TOKEN="hf_x", HF_ENDPOINT=hub.url)
    done, _ = run_publish(["push", str(folder), "--repo-id", repo_id, *flags], env)
    return done


def test_push_makes_the_repository_exactly_the_verified_folder(
    bundle: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / ".cache" / "huggingface").mkdir(parents=True)  # left by a Hub download
    (copy / ".cache" / "huggingface" / "x.lock").write_text("")
    with FakeHub() as hub:
        hub.repos["someone/amendments"] = HubRepo(
            private=False,
            files={".gitattributes": b"*.bin filter=lfs\n", "old-plot.png": b"earlier push",
                   "queries.jsonl": b"old"},
        )  # fmt: skip
        done = push(copy, "someone/amendments", hub, tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"uploaded: {hub.url}/datasets/someone/amendments/commit/" in " ".join(
            done.stderr.split()
        )
        expected = {p.relative_to(bundle).as_posix(): p.read_bytes()
                    for p in bundle.rglob("*") if p.is_file()}  # fmt: skip
        repo = hub.repos["someone/amendments"]
        assert repo.files == {**expected, ".gitattributes": b"*.bin filter=lfs\n"}
        assert repo.private is False  # without --private a repository keeps its visibility


def test_push_private_to_a_public_repository_is_refused(bundle: Path, tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.repos["someone/amendments"] = HubRepo(private=False, files={"old.txt": b"x"})
        done = push(bundle, "someone/amendments", hub, tmp_path, "--private")
        assert done.returncode == 2
        message = " ".join(done.stderr.split())
        assert f"{hub.url}/datasets/someone/amendments already exists and is public" in message
        assert "nothing was uploaded" in message and "--make-private" in message
        assert hub.repos["someone/amendments"] == HubRepo(private=False, files={"old.txt": b"x"})
        assert not [r for r in hub.requests if "/commit/" in r or "/settings" in r]
        # Asked to, it turns the repository private first, then uploads.
        hub.requests.clear()
        done = push(bundle, "someone/amendments", hub, tmp_path, "--private", "--make-private")
        assert done.returncode == 0, done.stderr
        repo = hub.repos["someone/amendments"]
        assert repo.private is True
        assert "old.txt" not in repo.files and "SHA256SUMS" in repo.files
        settings = next(i for i, r in enumerate(hub.requests) if r.endswith("/settings"))
        commit = next(i for i, r in enumerate(hub.requests) if "/commit/" in r)
        assert settings < commit
        # A new repository is created private.
        done = push(bundle, "someone/new", hub, tmp_path, "--private")
        assert done.returncode == 0, done.stderr
        assert hub.repos["someone/new"].private is True
        assert "queries.jsonl" in hub.repos["someone/new"].files


def test_verify_fails_for_unlisted_files_and_an_empty_checksum_file(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "extra.txt").write_text("not vouched for")
    result = verify_bundle(copy)
    assert not result.ok and result.unlisted == ["extra.txt"]
    assert main(["verify", str(copy)]) == 1
    assert "not in SHA256SUMS: extra.txt" in " ".join(capsys.readouterr().err.split())
    (copy / "extra.txt").unlink()
    (copy / "SHA256SUMS").write_text("")
    for path in copy.iterdir():
        if path.is_file() and path.name != "SHA256SUMS":
            path.unlink()
    shutil.rmtree(copy / "manifests")
    assert not verify_bundle(copy).ok and verify_bundle(copy).empty
    assert main(["verify", str(copy)]) == 1
    assert "SHA256SUMS lists no files" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--queries", "--triples", "--license", "--push-to-hub", "verify", "push"):
        assert flag in text
