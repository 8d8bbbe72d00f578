"""Text-generation engines: one module per engine, all behind :class:`Engine`."""

from inpars.engines.base import (
    Engine,
    Generation,
    Request,
    SamplingParams,
    Tokenizer,
    add_engine_arguments,
    available_engines,
    engine_from_args,
    engine_module,
    engine_options,
    query_seed,
)

__all__ = [
    "Engine",
    "Generation",
    "Request",
    "SamplingParams",
    "Tokenizer",
    "add_engine_arguments",
    "available_engines",
    "engine_from_args",
    "engine_module",
    "engine_options",
    "query_seed",
]
