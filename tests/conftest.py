"""Shared fixtures: tiny models built from configs (fast) and the real bundled SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_collection(name: str) -> Path:
    """A shared test collection, or a skip when ../shared/data is not there."""
    path = SHARED_DATA / name
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"shared collection not found at {path}")
    return path


def build_tiny_causal_lm(
    directory: Path, newline_first: bool = False, first_token: str | None = None
) -> Path:
    """A 2-layer random Llama with its own byte-level BPE tokenizer (not GPT-2's vocabulary).

    With ``first_token`` (a byte-level symbol such as ``"?Ċ"``) that token is token 0 and the
    final norm is zeroed, so every logit is equal and greedy decoding picks it at every step;
    ``newline_first`` is ``first_token="Ċ"`` (the newline).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if newline_first:
        first_token = "Ċ"  # the byte-level symbol for "\n"
    # A few merged tokens, one of them ending in a newline ("?\n"), so that a newline can
    # arrive inside a longer token, as it does with real tokenizers.
    merged = ["Ġt", "he", "Ġthe", "?Ċ"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    alphabet.remove("Ċ")
    symbols = [*alphabet, "Ċ", *merged, "<eos>"]
    if first_token is not None:
        symbols.remove(first_token)
        symbols.insert(0, first_token)
    vocab = {s: i for i, s in enumerate(symbols)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("?", "Ċ")]
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        eos_token_id=vocab["<eos>"], pad_token_id=vocab["<eos>"], tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if first_token is not None:
        with torch.no_grad():
            model.model.norm.weight.zero_()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def smollm2():
    """The real bundled SmolLM2-135M-Instruct through the hf engine (loaded once)."""
    from inpars.engines.hf import HFEngine

    return HFEngine("smollm2-135m", dtype="float32")


def write_beir_corpus(directory: Path, docs: list[tuple[str, str, str]]) -> Path:
    """A BEIR folder with ``docs`` as (id, title, text)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, title, text in docs:
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    return directory


def minilm_tokenizer():
    """The bundled all-MiniLM-L6-v2 WordPiece tokenizer (lower-cases; 'true'/'false' whole)."""
    from transformers import AutoTokenizer

    from inpars.models import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("all-minilm-l6-v2"))


def build_tiny_t5(directory: Path) -> Path:
    """A 2-layer random T5 with the MiniLM tokenizer (no T5 tokenizer installs offline)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = minilm_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id, dropout_rate=0.1,
    )
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_cross_encoder(directory: Path) -> Path:
    """A 2-layer random BERT with one output logit and the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = minilm_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=512, num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


def write_learnable_triples(path: Path, n: int = 64) -> Path:
    """Triples a model can learn quickly: positives repeat the query's topic word and share
    words that negatives (about another topic) never have."""
    topics = ["wing", "shell", "heat", "flutter", "plate", "shock", "jet", "crack"]
    lines = []
    for i in range(n):
        topic, other = topics[i % len(topics)], topics[(i + 3) % len(topics)]
        lines.append(
            f"what about the {topic}\tanswer: the {topic} is explained here\t"
            f"noise: the {other} was never measured\n"
        )
    path.write_text("".join(lines))
    return path


TOPICS = [
    "wing flutter", "heat transfer", "shock wave", "boundary layer", "jet noise", "crack growth",
]  # fmt: skip


def write_beir_collection(folder: Path) -> Path:
    """A small BEIR collection: 5 documents on each of 6 topics, a query per topic, and
    qrels judging the first document of each topic relevant for its query (but the last
    topic's, which is not judged)."""
    docs = []
    for t, topic in enumerate(TOPICS):
        for i in range(5):
            title = f"On {topic}" if i == 0 else ""
            docs.append((f"d{t}-{i}", title, f"a study of {topic} number {i} " * (i + 1)))
    write_beir_corpus(folder, docs)
    with (folder / "queries.jsonl").open("w") as handle:
        for t, topic in enumerate(TOPICS):
            query = {"_id": f"q{t}", "text": f"what does a study say about {topic}"}
            handle.write(json.dumps(query) + "\n")
    (folder / "qrels").mkdir()
    rows = [f"q{t}\td{t}-0\t1\n" for t in range(len(TOPICS) - 1)]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))
    return folder


def write_expansion(corpus: Path, folder: Path, doc_id: str, query: str) -> Path:
    """``corpus`` expanded by inpars.expand with one generated ``query`` for ``doc_id``, in
    ``folder / "expanded"``: a query of words no document has finds ``doc_id`` only there."""
    from inpars.expand import ExpandConfig, expand

    folder.mkdir(parents=True, exist_ok=True)
    generated = folder / "generated.jsonl"
    generated.write_text(json.dumps({"doc_id": doc_id, "query": query}) + "\n")
    expand(ExpandConfig(str(corpus), str(generated), str(folder / "expanded")))
    return folder / "expanded"


def make_requests(prompts: list[str], n: int, seed: int = 0, shared_prefix: str = "") -> list:
    """Engine requests for ``prompts``, ``n`` completions each, seeded as a run's would be
    (prompt ``i`` plays document ``str(i)``)."""
    from inpars.engines.base import Request, query_seed

    return [
        Request(prompt, tuple(query_seed(seed, str(i), j) for j in range(n)), shared_prefix)
        for i, prompt in enumerate(prompts)
    ]
