"""Sharded runs: --shard I/N on generate, triples and rerank, and inpars.merge.

The promise: N shards merged are byte for byte the file one unsharded run writes, and a
merge refuses parts that are not one complete run (a part missing, unfinished, made with
other settings, or from another N).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from test_triples import make_docs, make_queries, write_jsonl

from inpars.cli.merge import main as merge_main
from inpars.corpus import read_corpus
from inpars.engines.hf import HFEngine
from inpars.errors import InparsError
from inpars.generate import GenerateConfig, generate
from inpars.merge import merge
from inpars.rerank import RerankConfig, rerank
from inpars.shards import Shard, in_shard, parse_shard, shard_of
from inpars.triples import TriplesConfig, make_triples

from conftest import REPO, write_beir_collection, write_beir_corpus

SHARDS = 3


# --- the shard function -----------------------------------------------------------------


def test_parse_shard_accepts_i_of_n_and_rejects_the_rest() -> None:
    assert parse_shard("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    assert parse_shard(None) is None and parse_shard("") is None
    for bad in ("3/3", "-1/3", "1/0", "1", "a/b", "1/2/3"):
        with pytest.raises(InparsError, match="I/N"):
            parse_shard(bad)


def test_shards_partition_any_ids_the_same_way_in_every_process() -> None:
    ids = [f"doc-{i}" for i in range(3000)] + ["", "ü", "12", "x" * 500]
    for count in (1, 2, 3, 8):
        shards = [Shard(i, count) for i in range(count)]
        for doc_id in ids:
            assert sum(doc_id in shard for shard in shards) == 1
            assert in_shard(doc_id, f"{shard_of(doc_id, count)}/{count}")
        sizes = [sum(doc_id in shard for doc_id in ids) for shard in shards]
        assert min(sizes) > 0.8 * len(ids) / count  # balanced, not one shard taking all
    # Not Python's salted hash: another interpreter, another PYTHONHASHSEED, same shards.
    here = [shard_of(doc_id, 7) for doc_id in ids[:50]]
    code = (
        "import json, sys; from inpars.shards import shard_of; "
        "print(json.dumps([shard_of(f'doc-{i}', 7) for i in range(50)]))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert json.loads(out.stdout) == here
    # Pinned: the partition must not change between inpars versions, or parts written by
    # two versions would not merge.
    assert [shard_of(f"d{i}", 3) for i in range(8)] == PINNED


PINNED = [2, 1, 0, 1, 0, 1, 0, 1]


# --- generate -----------------------------------------------------------------------------

SENTENCES = [
    "the boundary layer on a flat plate thickens downstream of the leading edge",
    "shock waves form ahead of a blunt body in supersonic flow",
    "heat transfer to a cone at hypersonic speed was measured in a wind tunnel",
    "the flutter of thin panels depends on the dynamic pressure",
    "a jet issuing from a nozzle entrains the surrounding air",
    "buckling of thin cylindrical shells under axial compression",
    "the lift of a slender wing grows with its angle of attack",
]


def generate_corpus(directory: Path, count: int = 7) -> Path:
    # Lengths differ so that batches (grouped by length) are not in corpus order.
    docs = [
        (f"d{i}", "", " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(1 + i % 3)))
        for i in range(count)
    ]
    return write_beir_corpus(directory, docs)


def gen_config(corpus: Path, output: Path, **changes: object) -> GenerateConfig:
    base = GenerateConfig(
        corpus=str(corpus), output=str(output), max_new_tokens=8, max_doc_tokens=32,
        batch_size=3,
    )  # fmt: skip
    return replace(base, **changes)


def run_shards(make_config, directory: Path, run, count: int = SHARDS) -> list[Path]:
    outputs = []
    for index in range(count):
        config = make_config(directory / f"part{index}", f"{index}/{count}")
        run(config)
        outputs.append(Path(config.output))
    return outputs


def test_generate_three_shards_merged_equal_the_unsharded_run(tmp_path, smollm2: HFEngine):
    """Real SmolLM2, greedy: the shards merged give the unsharded run's bytes.

    Batch size 1 everywhere: in float32 a document's log-probs move in the 7th digit with
    its batch neighbours (padding, matmul shapes), in a sharded run as in an unsharded one
    at another batch size; the merge itself adds no difference.
    """
    corpus = generate_corpus(tmp_path / "corpus", 5)
    whole = tmp_path / "whole.jsonl"
    generate(smollm2, gen_config(corpus, whole, batch_size=1), show_progress=False)
    records = [json.loads(line) for line in whole.read_text().splitlines()]
    assert [r["doc_id"] for r in records] == [f"d{i}" for i in range(5)]

    parts = run_shards(
        lambda d, shard: gen_config(corpus, d.with_suffix(".jsonl"), shard=shard, batch_size=1),
        tmp_path,
        lambda c: generate(smollm2, c, show_progress=False),
    )
    assert sorted(len(p.read_text().splitlines()) for p in parts) == [1, 2, 2]
    merged = tmp_path / "merged.jsonl"
    assert merge_main(["--output", str(merged), *map(str, reversed(parts))]) == 0
    assert merged.read_bytes() == whole.read_bytes()
    manifest = json.loads(Path(f"{merged}.manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["shard"] is None
    assert [p["shard"] for p in manifest["merged_from"]] == ["0/3", "1/3", "2/3"]
    assert manifest["last_invocation"]["documents"] == 5


def test_generate_writes_its_output_in_corpus_order(tmp_path, tiny_engine) -> None:
    """Batches are grouped by length (out of corpus order); the finished file is not."""
    corpus = generate_corpus(tmp_path / "corpus")
    out = tmp_path / "q.jsonl"
    generate(tiny_engine, gen_config(corpus, out, num_queries_per_doc=2), show_progress=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["doc_id"], r["query_index"]) for r in records] == [
        (f"d{i}", k) for i in range(7) for k in range(2)
    ]


@pytest.fixture(scope="module")
def tiny_engine(tiny_lm: Path) -> HFEngine:
    return HFEngine(str(tiny_lm))


@pytest.fixture
def tiny_parts(tmp_path, tiny_engine):
    corpus = generate_corpus(tmp_path / "corpus")

    def make(directory: Path, shard: str, **changes: object) -> GenerateConfig:
        return gen_config(corpus, directory.with_suffix(".jsonl"), shard=shard, **changes)

    parts = run_shards(make, tmp_path, lambda c: generate(tiny_engine, c, show_progress=False))
    return corpus, make, parts


def test_merge_refuses_a_missing_part(tmp_path, tiny_parts) -> None:
    _, _, parts = tiny_parts
    with pytest.raises(InparsError, match="shard\\(s\\) 1 of 3 missing"):
        merge([parts[0], parts[2]], tmp_path / "m.jsonl")
    with pytest.raises(InparsError, match="given twice"):
        merge([parts[0], parts[1], parts[1]], tmp_path / "m.jsonl")
    parts[2].unlink()
    with pytest.raises(InparsError, match="missing"):
        merge(parts, tmp_path / "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()


def test_merge_refuses_an_incomplete_part(tmp_path, tiny_parts, tiny_engine, monkeypatch) -> None:
    _, make, parts = tiny_parts
    config = make(tmp_path / "part1", "1/3")
    config = replace(config, output=str(tmp_path / "again1.jsonl"), batch_size=1)
    calls = 0
    real = tiny_engine.generate

    def crash_on_second_batch(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tiny_engine, "generate", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_engine, config, show_progress=False)
    with pytest.raises(InparsError, match=r"again1\.jsonl: is not complete"):
        merge([parts[0], Path(config.output), parts[2]], tmp_path / "m.jsonl")


def test_merge_refuses_parts_made_with_other_settings(tmp_path, tiny_parts, tiny_engine) -> None:
    _, make, parts = tiny_parts
    other = make(tmp_path / "other1", "1/3", max_new_tokens=5)
    generate(tiny_engine, other, show_progress=False)
    with pytest.raises(InparsError, match=r"other settings.*max_new_tokens"):
        merge([parts[0], Path(other.output), parts[2]], tmp_path / "m.jsonl")


def test_merge_refuses_mixed_n_and_unsharded_outputs(tmp_path, tiny_parts, tiny_engine) -> None:
    corpus, make, parts = tiny_parts
    half = make(tmp_path / "half", "1/2")
    generate(tiny_engine, half, show_progress=False)
    with pytest.raises(InparsError, match="parts of one run share N"):
        merge([*parts, Path(half.output)], tmp_path / "m.jsonl")
    whole = gen_config(corpus, tmp_path / "whole.jsonl")
    generate(tiny_engine, whole, show_progress=False)
    with pytest.raises(InparsError, match="not made with --shard"):
        merge([*parts, Path(whole.output)], tmp_path / "m.jsonl")


def test_a_part_is_never_resumed_as_another_shard(tmp_path, tiny_parts, tiny_engine) -> None:
    _, make, _ = tiny_parts
    with pytest.raises(InparsError, match="shard: '0/3' -> '1/3'"):
        generate(tiny_engine, replace(make(tmp_path / "part0", "1/3")), show_progress=False)


def test_merge_cli_reports_a_refusal_without_a_traceback(tmp_path, tiny_parts, capsys) -> None:
    _, _, parts = tiny_parts
    assert merge_main(["--output", str(tmp_path / "m.jsonl"), str(parts[0])]) == 2
    assert "missing" in capsys.readouterr().err


# --- triples ------------------------------------------------------------------------------


def test_triples_three_shards_merged_equal_the_unsharded_run(tmp_path: Path) -> None:
    corpus = write_beir_corpus(tmp_path / "corpus", make_docs())
    queries = make_queries()
    queries.insert(5, dict(queries[7]))  # a repeated record: written once, where it first is
    queries_file = write_jsonl(tmp_path / "queries.jsonl", queries)

    def config(out: Path, shard: str | None = None) -> TriplesConfig:
        return TriplesConfig(
            queries=str(queries_file), corpus=str(corpus), output=str(out), depth=30,
            negatives_per_query=2, batch_size=4, threads=2, index=str(tmp_path / "index"),
            shard=shard,
        )  # fmt: skip

    whole = config(tmp_path / "whole.tsv")
    make_triples(whole)
    parts = run_shards(
        lambda d, shard: config(d.with_suffix(".tsv"), shard), tmp_path, make_triples
    )
    merged = tmp_path / "merged.tsv"
    merge(parts, merged)
    assert merged.read_bytes() == Path(whole.output).read_bytes()
    assert merged.with_suffix(".jsonl").read_bytes() == whole.jsonl_path.read_bytes()
    assert len(merged.read_text().splitlines()) == 86
    manifest = json.loads(Path(f"{merged}.manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["summary"]["triples"] == 86
    # The merged files are a finished run: the same command resumes nothing and keeps them.
    before = merged.read_bytes()
    summary = make_triples(replace(whole, output=str(merged), jsonl=None))
    assert summary.triples == 0 and merged.read_bytes() == before
    # A part changed after its run completed is refused.
    with parts[1].open("a") as handle:
        handle.write("extra\tline\there\n")
    with pytest.raises(InparsError, match="changed since its run completed"):
        merge(parts, tmp_path / "again.tsv")


# --- rerank -------------------------------------------------------------------------------


def test_rerank_three_shards_merged_equal_the_unsharded_run(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    collection = write_beir_collection(tmp_path / "collection")

    def config(out: Path, shard: str | None = None) -> RerankConfig:
        return RerankConfig(
            queries=str(collection), corpus=str(collection), output=str(out),
            # One query per chunk: a pair's batch then holds the same pairs in every shard.
            # Queries sharing a chunk pad each other, which moves scores in the last digits
            # (written in full since runs keep full precision).
            model=str(tiny_cross_encoder), depth=8, queries_per_chunk=1, batch_size=5,
            index=str(tmp_path / "index"), threads=2, shard=shard,
        )  # fmt: skip

    whole = config(tmp_path / "whole.trec")
    rerank(whole)
    parts = run_shards(lambda d, shard: config(d.with_suffix(".trec"), shard), tmp_path, rerank)
    assert all(p.read_text() for p in parts)  # 6 queries over 3 shards: none is empty here
    merged = tmp_path / "merged.trec"
    merge(parts, merged)
    assert merged.read_bytes() == Path(whole.output).read_bytes()
    # Rerunning the unsharded command on the merged run finds it done and leaves it alone.
    before = merged.read_bytes()
    assert rerank(replace(whole, output=str(merged))).already_done == 6
    assert merged.read_bytes() == before
    # A part made with another depth is refused; so is one whose manifest says unfinished.
    other = config(tmp_path / "other.trec", "2/3")
    rerank(replace(other, depth=4))
    with pytest.raises(InparsError, match=r"other settings.*setting depth"):
        merge([parts[0], parts[1], Path(other.output)], tmp_path / "m.trec")
    manifest = Path(f"{parts[2]}.manifest.json")
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "status": "running"}))
    with pytest.raises(InparsError, match="is not complete"):
        merge(parts, tmp_path / "m.trec")


# --- one index for the shards of one machine --------------------------------------------


def test_shards_started_together_build_one_index_and_share_it(tmp_path: Path) -> None:
    """Two processes ensuring the same index: one builds it, the other waits and reuses it."""
    corpus = write_beir_corpus(tmp_path / "corpus", make_docs())
    code = (
        "import sys; from inpars.bm25 import ensure_index; from inpars.corpus import read_corpus; "
        "info = ensure_index(read_corpus(sys.argv[1]), sys.argv[2]); print(info.reused)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(corpus), str(tmp_path / "index")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reused = sorted(p.communicate(timeout=300)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    assert reused == ["False", "True"]


# --- dense encoding -----------------------------------------------------------------------


def test_dense_encoding_in_three_shards_merges_into_the_corpus_embeddings(tmp_path: Path) -> None:
    """Real all-MiniLM-L6-v2: 3 shard folders merged = the unsharded encoding, and search
    reuses the merged folder without encoding anything."""
    import numpy as np

    from inpars.cli.search import main as search_main
    from inpars.search import DenseEncoder, ensure_embeddings

    collection = write_beir_collection(tmp_path / "collection")
    parts = [tmp_path / f"emb{i}" for i in range(SHARDS)]
    for i, part in enumerate(parts):
        argv = ["--corpus", str(collection), "--embeddings", str(part), "--shard", f"{i}/3"]
        assert search_main([*argv, "--quiet", "--batch-size", str(2 + i)]) == 0
    merged = tmp_path / "merged"
    assert merge_main(["--output", str(merged), *map(str, reversed(parts))]) == 0

    encoder = DenseEncoder.load("all-minilm-l6-v2", device="cpu")
    reader = read_corpus(collection)
    whole = ensure_embeddings(reader, encoder, tmp_path / "whole")
    reused = ensure_embeddings(reader, encoder, merged)
    assert reused.reused and reused.doc_ids == whole.doc_ids
    assert np.allclose(reused.embeddings, whole.embeddings, atol=1e-5)

    with pytest.raises(InparsError, match=r"shard\(s\) 1 of 3 missing"):
        merge([parts[0], parts[2]], tmp_path / "m")
    state = json.loads((parts[1] / "inpars-shard.json").read_text())
    (parts[1] / "inpars-shard.json").write_text(json.dumps({**state, "status": "running"}))
    with pytest.raises(InparsError, match="is not complete"):
        merge(parts, tmp_path / "m")


def test_dense_shards_of_a_corpus_with_its_own_field_names_merge(tmp_path: Path) -> None:
    """The merge rereads the corpus as the shards read it (format and field flags recorded):
    a JSONL file named .txt with fields pid/body encodes in 2 shards and merges."""
    import numpy as np

    from inpars.cli.search import main as search_main
    from inpars.search import DenseEncoder, ensure_embeddings

    collection = write_beir_collection(tmp_path / "collection")
    corpus = tmp_path / "docs.txt"
    with corpus.open("w") as out:
        for doc in read_corpus(collection):
            out.write(json.dumps({"pid": doc.id, "body": doc.contents}) + "\n")
    fields = ["--corpus-format", "jsonl", "--id-field", "pid", "--text-field", "body"]
    parts = [tmp_path / f"emb{i}" for i in range(2)]
    for i, part in enumerate(parts):
        argv = ["--corpus", str(corpus), *fields, "--embeddings", str(part), "--shard", f"{i}/2"]
        assert search_main([*argv, "--quiet"]) == 0
    merged = tmp_path / "merged"
    assert merge_main(["--output", str(merged), *map(str, parts)]) == 0

    reader = read_corpus(corpus, format="jsonl", id_field="pid", text_field="body")
    encoder = DenseEncoder.load("all-minilm-l6-v2", device="cpu")
    whole = ensure_embeddings(reader, encoder, tmp_path / "whole")
    reused = ensure_embeddings(reader, encoder, merged)
    assert reused.reused and reused.doc_ids == whole.doc_ids
    assert np.allclose(reused.embeddings, whole.embeddings, atol=1e-5)
