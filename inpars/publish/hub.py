"""Uploading a verified dataset folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

from inpars import __version__
from inpars.errors import InparsError
from inpars.publish.reader import verify_bundle


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    timeout: float = 10.0,
    commit_message: str | None = None,
) -> str:
    """Uploads a verified dataset folder to a Hub dataset repository; returns the commit URL.

    Fails fast, before any upload, in offline mode (``HF_HUB_OFFLINE``), without a token, and
    when the hub does not answer within ``timeout`` seconds or rejects the token.

    Raises:
        InparsError: saying why nothing was (or may not have been) uploaded.
    """
    result = verify_bundle(folder)
    if not result.ok:
        raise InparsError(
            f"{folder} fails its checksums (changed: {', '.join(result.mismatched) or 'none'}; "
            f"missing: {', '.join(result.missing) or 'none'}); nothing was uploaded"
        )
    try:
        import huggingface_hub
        from huggingface_hub import HfApi, constants
    except ImportError:
        raise InparsError("uploading needs huggingface_hub: pip install huggingface_hub") from None
    if constants.HF_HUB_OFFLINE:
        raise InparsError(
            "HF_HUB_OFFLINE is set, so nothing was uploaded; unset it when online and run "
            f"python -m inpars.publish push {folder} --repo-id {repo_id}"
        )
    token = huggingface_hub.get_token()
    if not token:
        raise InparsError(
            "no Hugging Face token (set HF_TOKEN, or run `hf auth login`), so nothing was uploaded"
        )
    endpoint = constants.ENDPOINT
    _check_hub(endpoint, token, timeout, folder, repo_id)
    api = HfApi(endpoint=endpoint, token=token)
    message = commit_message or f"Upload dataset made with inpars {__version__}"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="dataset",
            commit_message=message,
        )
    except Exception as exc:  # the hub client raises many kinds (HTTP, network, xet)
        raise InparsError(
            f"uploading to {endpoint}/datasets/{repo_id} failed ({type(exc).__name__}: {exc}); "
            "no commit was confirmed, so do not count on anything being published"
        ) from None
    return str(getattr(commit, "commit_url", None) or f"{endpoint}/datasets/{repo_id}")


def _check_hub(endpoint: str, token: str, timeout: float, folder: str | Path, repo_id: str) -> None:
    """Asks the hub who the token belongs to: proves it answers, and accepts the token."""
    import httpx

    retry = f"python -m inpars.publish push {folder} --repo-id {repo_id}"
    try:
        response = httpx.get(
            f"{endpoint.rstrip('/')}/api/whoami-v2",
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise InparsError(
            f"cannot reach the Hugging Face Hub at {endpoint} ({type(exc).__name__}: {exc}); "
            f"nothing was uploaded. When online, run: {retry}"
        ) from None
    if response.status_code == 401:
        raise InparsError(f"{endpoint} rejected the Hugging Face token (401); nothing was uploaded")
    if response.status_code >= 400:
        raise InparsError(
            f"{endpoint} answered {response.status_code} to a token check; nothing was "
            f"uploaded. Try again later: {retry}"
        )
