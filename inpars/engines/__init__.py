"""Text-generation engines: one module per engine, all behind :class:`Engine`."""

from inpars.engines.base import (
    Engine,
    Generation,
    SamplingParams,
    Tokenizer,
    add_engine_arguments,
    available_engines,
    engine_from_args,
    engine_module,
    engine_options,
)

__all__ = [
    "Engine",
    "Generation",
    "SamplingParams",
    "Tokenizer",
    "add_engine_arguments",
    "available_engines",
    "engine_from_args",
    "engine_module",
    "engine_options",
]
