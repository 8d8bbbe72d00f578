"""The generate stage: records, manifest, resume (also after SIGKILL), errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inpars.artifacts import manifest_path
from inpars.cli.generate import main
from inpars.corpus import read_corpus
from inpars.engines.hf import HFEngine
from inpars.errors import InparsError
from inpars.generate import GenerateConfig, count_documents, generate

from conftest import REPO, write_beir_corpus

WORDS = ["flow", "wing", "shell", "heat", "boundary", "layer", "pressure", "shock", "nozzle"]


def make_corpus(directory: Path, n: int) -> Path:
    docs = [
        (f"d{i}", f"title {i}", " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5 + i % 40)))
        for i in range(n)
    ]
    return write_beir_corpus(directory, docs)


def read_records(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def tiny_engine(tiny_lm: Path) -> HFEngine:
    return HFEngine(str(tiny_lm))


def test_generate_writes_one_record_per_query_and_a_manifest(tmp_path, tiny_engine):
    corpus = make_corpus(tmp_path / "c", 7)
    out = tmp_path / "q.jsonl"
    config = GenerateConfig(corpus=str(corpus), output=str(out), num_queries_per_doc=2,
                            max_new_tokens=6, temperature=0.7, top_p=0.9, seed=5,
                            batch_size=3, save_prompts=True)
    summary = generate(tiny_engine, config, show_progress=False)
    records = read_records(out)
    assert summary.documents == 7 and summary.queries == 14 == len(records)
    assert {(r["doc_id"], r["query_index"]) for r in records} == {
        (f"d{i}", j) for i in range(7) for j in range(2)
    }
    first = records[0]
    for key in ["doc_id", "query", "log_probs", "tokens", "template", "fewshot_ids", "model",
                "engine", "temperature", "top_p", "seed", "max_new_tokens", "finish_reason"]:
        assert key in first
    assert len(first["log_probs"]) == len(first["tokens"])
    assert first["fewshot_ids"] == ["inpars-vanilla-1", "inpars-vanilla-2", "inpars-vanilla-3"]
    assert first["engine"] == "hf" and first["temperature"] == 0.7 and first["seed"] == 5
    assert first["prompt"].endswith("Relevant Query:")
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["num_queries_per_doc"] == 2
    assert manifest["inpars_version"]
    assert manifest["template"]["fewshot_ids"] == first["fewshot_ids"]

    # Same command again: nothing left to do, nothing duplicated.
    again = generate(tiny_engine, config, show_progress=False)
    assert again.documents == 0 and again.skipped_done == 7
    assert len(read_records(out)) == 14


def test_prompts_are_not_stored_by_default(tmp_path, tiny_engine):
    corpus = make_corpus(tmp_path / "c", 2)
    out = tmp_path / "q.jsonl"
    generate(tiny_engine, GenerateConfig(corpus=str(corpus), output=str(out), max_new_tokens=3),
             show_progress=False)
    assert all("prompt" not in r for r in read_records(out))


def test_inpars_compat_writes_the_toolkit_s_fields_that_filter_keeps(tmp_path, tiny_engine):
    from inpars.filter import FilterConfig, filter_queries

    corpus = make_corpus(tmp_path / "c", 2)
    out = tmp_path / "q.jsonl"
    config = GenerateConfig(corpus=str(corpus), output=str(out), max_new_tokens=3)
    generate(tiny_engine, config, show_progress=False)
    assert all("prompt_text" not in r and "text" not in r for r in read_records(out))
    config.inpars_compat = True  # another record schema: not mixed into the same file
    with pytest.raises(InparsError, match="inpars_compat"):
        generate(tiny_engine, config, show_progress=False)
    generate(tiny_engine, config, overwrite=True, show_progress=False)
    documents = {doc.id: doc.contents for doc in read_corpus(corpus)}
    for record in read_records(out):
        assert record["prompt_text"].endswith("Relevant Query:")
        assert record["fewshot_examples"] == record["fewshot_ids"]
        assert record["text"] == documents[record["doc_id"]]
        assert record["text"].split()[0] in record["prompt_text"]
    # The toolkit's filter output is its input rows plus score: inpars.filter keeps them too.
    filtered = tmp_path / "f.jsonl"
    filter_queries(FilterConfig(input=str(out), output=str(filtered), min_words=0,
                                copy_threshold=0, max_words=1000))  # fmt: skip
    kept = read_records(filtered)
    assert kept and all({"prompt_text", "fewshot_examples", "text", "score"} <= set(r)
                        for r in kept)  # fmt: skip


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_engine):
    corpus = make_corpus(tmp_path / "c", 3)
    out = tmp_path / "q.jsonl"
    config = GenerateConfig(corpus=str(corpus), output=str(out), max_new_tokens=3)
    generate(tiny_engine, config, show_progress=False)
    config.temperature = 0.9
    with pytest.raises(InparsError, match=r"(?s)setting temperature: 0.0 -> 0.9.*--overwrite"):
        generate(tiny_engine, config, show_progress=False)
    summary = generate(tiny_engine, config, overwrite=True, show_progress=False)
    assert summary.documents == 3


def test_other_engine_options_model_or_corpus_are_refused(tmp_path, tiny_lm):
    import shutil

    import torch
    import transformers

    tiny_lm = shutil.copytree(tiny_lm, tmp_path / "model")
    tiny_engine = HFEngine(str(tiny_lm))
    corpus = make_corpus(tmp_path / "c", 3)
    out = tmp_path / "q.jsonl"
    config = GenerateConfig(corpus=str(corpus), output=str(out), max_new_tokens=3)
    options = {"dtype": "float32", "device": "cpu", "threads": 1}
    generate(tiny_engine, config, engine_options=options, show_progress=False)
    before = out.read_bytes()
    # --threads changes only speed; --dtype changes the queries.
    again = generate(tiny_engine, config, show_progress=False,
                     engine_options={**options, "threads": 2})  # fmt: skip
    assert again.documents == 0
    with pytest.raises(InparsError, match=r"setting engine_options: .*'float32'.*'bfloat16'"):
        generate(tiny_engine, config, engine_options={**options, "dtype": "bfloat16"},
                 show_progress=False)  # fmt: skip
    # The same model folder, retrained (other weights), is another model.
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_lm)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    model.save_pretrained(tiny_lm)
    with pytest.raises(InparsError, match=r"input model changed \(fingerprint"):
        generate(tiny_engine, config, engine_options=options, show_progress=False)
    # A corpus edited since is another corpus.
    with (corpus / "corpus.jsonl").open("a") as handle:
        handle.write(json.dumps({"_id": "new", "title": "", "text": "a new document"}) + "\n")
    with pytest.raises(InparsError, match=r"input corpus changed"):
        generate(tiny_engine, config, engine_options=options, show_progress=False)
    assert out.read_bytes() == before


def test_an_output_without_a_manifest_is_not_appended_to(tmp_path, tiny_engine):
    corpus = make_corpus(tmp_path / "c", 2)
    out = tmp_path / "q.jsonl"
    out.write_text('{"doc_id": "d0", "query": "made elsewhere", "query_index": 0}\n')
    config = GenerateConfig(corpus=str(corpus), output=str(out), max_new_tokens=3)
    with pytest.raises(InparsError, match=r"has no q\.jsonl\.manifest\.json"):
        generate(tiny_engine, config, show_progress=False)
    assert "made elsewhere" in out.read_text()


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys, tiny_lm):
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n')
    code = main(["--corpus", str(bad), "--output", str(tmp_path / "o.jsonl"),
                 "--model", str(tiny_lm), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "corpus.jsonl:2" in err and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()
    code = main(["--corpus", str(make_corpus(tmp_path / "c", 2)), "--output",
                 str(tmp_path / "o.jsonl"), "--model", str(tmp_path / "no-model"), "--quiet"])
    assert code == 2 and "could not load model" in capsys.readouterr().err
    code = main(["--corpus", str(tmp_path / "c"), "--output", str(tmp_path / "o.jsonl"),
                 "--prompt", "promptagator", "--quiet"])
    assert code == 2 and "--examples" in capsys.readouterr().err


def test_doc_ids_are_checked_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import inpars.cli.generate as generate_module

    def no_model(args):
        raise AssertionError("the model was loaded before the document ids were checked")

    monkeypatch.setattr(generate_module, "engine_from_args", no_model)
    corpus = make_corpus(tmp_path / "c", 5)
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\nnot-there\nd3\n")
    code = main(["--corpus", str(corpus), "--output", str(tmp_path / "o.jsonl"),
                 "--doc-ids", str(ids), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "'not-there'" in err and "not in the corpus" in err


def test_progress_total_counts_the_documents_the_run_covers(tmp_path):
    corpus = str(make_corpus(tmp_path / "c", 9))
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\nd2\nd3\nd4\n")
    output = str(tmp_path / "o.jsonl")
    assert count_documents(GenerateConfig(corpus=corpus, output=output)) == 9
    assert count_documents(GenerateConfig(corpus=corpus, output=output, max_docs=3)) == 3
    both = GenerateConfig(corpus=corpus, output=output, doc_ids=str(ids), max_docs=2)
    assert count_documents(both) == 2
    assert count_documents(GenerateConfig(corpus=corpus, output=output, doc_ids=str(ids))) == 4


def test_an_empty_document_is_one_warning_line_without_source_code(tmp_path, capsys, tiny_lm):
    corpus = make_corpus(tmp_path / "c", 3)
    with (corpus / "corpus.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "blank", "title": "", "text": ""}) + "\n")
    code = main(["--corpus", str(corpus), "--output", str(tmp_path / "o.jsonl"),
                 "--model", str(tiny_lm), "--max-new-tokens", "4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if "skipped 1 document" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: ") and "'blank'" in lines[0]
    assert "generate.py" not in err and "CorpusWarning" not in err and "return sum" not in err


def test_cli_reads_a_jsonl_corpus_by_its_own_field_names(tmp_path, capsys, tiny_lm):
    corpus = tmp_path / "passages.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in [
        {"pid": "p1", "heading": "Flow", "passage": "flow over a wing"},
        {"pid": "p2", "heading": "Heat", "passage": "heat in a shell"},
    ]))  # fmt: skip
    out = tmp_path / "o.jsonl"
    code = main(["--corpus", str(corpus), "--id-field", "pid", "--text-field", "passage",
                 "--title-field", "heading", "--output", str(out), "--model", str(tiny_lm),
                 "--max-new-tokens", "2", "--save-prompts", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["doc_id"] for r in records] == ["p1", "p2"]
    assert "Flow flow over a wing" in records[0]["prompt"]
    config = json.loads(manifest_path(out).read_text())["config"]
    assert (config["id_field"], config["text_field"]) == ("pid", "passage")


def run_cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "inpars.generate", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_sigkill_gives_exactly_the_uninterrupted_set(tmp_path, tiny_lm):
    corpus = make_corpus(tmp_path / "c", 60)
    common = ["--corpus", str(corpus), "--model", str(tiny_lm), "--batch-size", "4",
              "--max-new-tokens", "8", "--num-queries-per-doc", "2", "--temperature", "0.8",
              "--quiet"]
    reference = tmp_path / "reference.jsonl"
    assert run_cli([*common, "--output", str(reference)]).wait(timeout=300) == 0

    out = tmp_path / "killed.jsonl"
    kills = 0
    for wait_lines in (10, 40, 70):  # kill three times, at different points of the run
        proc = run_cli([*common, "--output", str(out)])
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= wait_lines:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 2
    assert run_cli([*common, "--output", str(out)]).wait(timeout=300) == 0

    raw = out.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in raw]  # no corrupt line
    keys = [(r["doc_id"], r["query_index"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicated queries after resume"
    expected = {(r["doc_id"], r["query_index"]) for r in read_records(reference)}
    assert set(keys) == expected
    assert {r["doc_id"] for r in records} == {f"d{i}" for i in range(60)}


def sorted_lines(path: Path) -> list[str]:
    """The file's lines in (doc_id, query_index) order, each exactly as written."""
    lines = path.read_text(encoding="utf-8").splitlines()

    def key(line: str) -> tuple[str, int]:
        record = json.loads(line)
        return record["doc_id"], record["query_index"]

    return sorted(lines, key=key)


def test_sampled_queries_do_not_depend_on_batch_size_or_resume(tmp_path):
    # The real bundled model, sampled: each query's seed comes from (--seed, doc id, query
    # index), and each row samples with its own generator, so batch size, batch neighbours
    # and resuming after a SIGKILL change nothing, byte for byte.
    common = ["--corpus", "sample", "--max-docs", "10", "--num-queries-per-doc", "2",
              "--temperature", "1.0", "--top-p", "0.95", "--max-new-tokens", "8",
              "--seed", "3", "--dtype", "float32", "--threads", "1", "--quiet"]
    outputs = {}
    for batch_size in (1, 7, 16):
        out = tmp_path / f"batch{batch_size}.jsonl"
        proc = run_cli([*common, "--batch-size", str(batch_size), "--output", str(out)])
        assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
        outputs[batch_size] = sorted_lines(out)
    assert len(outputs[1]) == 20
    assert outputs[7] == outputs[1]
    assert outputs[16] == outputs[1]
    # Sampling happened: a document's two queries differ.
    queries = [json.loads(line)["query"] for line in outputs[1]]
    assert sum(a != b for a, b in zip(queries[::2], queries[1::2], strict=True)) >= 5

    killed = tmp_path / "killed.jsonl"
    proc = run_cli([*common, "--batch-size", "3", "--output", str(killed)])
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if killed.exists() and killed.read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    resumed = run_cli([*common, "--batch-size", "5", "--output", str(killed)])
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    assert sorted_lines(killed) == outputs[1]
