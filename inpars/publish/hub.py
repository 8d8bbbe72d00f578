"""Uploading a verified dataset folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inpars import __version__
from inpars.errors import InparsError
from inpars.publish.layout import SUMS_FILE
from inpars.publish.reader import read_checksums, verify_bundle


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    make_private: bool = False,
    timeout: float = 10.0,
    commit_message: str | None = None,
) -> str:
    """Uploads a verified dataset folder to a Hub dataset repository; returns the commit URL.

    After the commit the repository holds exactly the files of ``SHA256SUMS`` (and the card
    and checksum file): files left on the Hub by earlier pushes are deleted in the same commit.

    ``private`` creates a new repository private, and refuses, before uploading anything, to
    push to an existing public one, unless ``make_private``, which turns it private first.
    Without ``private`` an existing repository keeps its visibility.

    Fails fast, before any upload, in offline mode (``HF_HUB_OFFLINE``), without a token, and
    when the hub does not answer within ``timeout`` seconds or rejects the token.

    Raises:
        InparsError: saying why nothing was (or may not have been) uploaded.
    """
    private = private or make_private
    result = verify_bundle(folder)
    if not result.ok:
        raise InparsError(
            f"{folder} fails its checksums ({result.problems()}); nothing was uploaded"
        )
    listed = sorted(read_checksums(Path(folder) / SUMS_FILE))
    api = _hub_api(folder, repo_id, timeout)
    endpoint = str(api.endpoint).rstrip("/")
    where = f"{endpoint}/datasets/{repo_id}"
    _settle_visibility(api, repo_id, where, private=private, make_private=make_private)
    message = commit_message or f"Upload dataset made with inpars {__version__}"
    try:
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="dataset",
            commit_message=message,
            # Exactly the verified files go up, and whatever else the repository holds from
            # earlier pushes is deleted in the same commit (the Hub keeps .gitattributes).
            allow_patterns=[*listed, SUMS_FILE],
            delete_patterns=["*"],
        )
    except Exception as exc:  # the hub client raises many kinds (HTTP, network, xet)
        raise InparsError(
            f"uploading to {where} failed ({type(exc).__name__}: {exc}); no commit was "
            "confirmed, so do not count on anything being published"
        ) from None
    return str(getattr(commit, "commit_url", None) or where)


def _hub_api(folder: str | Path, repo_id: str, timeout: float) -> Any:
    """An HfApi for the configured endpoint and token, once the hub has accepted the token."""
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
    return HfApi(endpoint=endpoint, token=token)


def _settle_visibility(
    api: Any, repo_id: str, where: str, *, private: bool, make_private: bool
) -> None:
    """Creates the repository if needed; with ``private``, makes sure it is private.

    ``create_repo(private=True, exist_ok=True)`` leaves an existing public repository public,
    so the visibility is read back rather than assumed.
    """
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        is_private = getattr(api.repo_info(repo_id, repo_type="dataset"), "private", None)
        if private and is_private is not True:
            if not make_private:
                state = "public" if is_private is False else "of unknown visibility"
                raise InparsError(
                    f"{where} already exists and is {state}, but --private was asked for; "
                    "nothing was uploaded. Pass --make-private to turn it private first, or "
                    "leave out --private to publish it publicly"
                )
            api.update_repo_settings(repo_id, private=True, repo_type="dataset")
            if getattr(api.repo_info(repo_id, repo_type="dataset"), "private", None) is not True:
                raise InparsError(
                    f"{where} is still not private after asking to make it private; nothing "
                    "was uploaded"
                )
    except InparsError:
        raise
    except Exception as exc:  # the hub client raises many kinds (HTTP, network)
        raise InparsError(
            f"could not create or check {where} ({type(exc).__name__}: {exc}); nothing was "
            "uploaded"
        ) from None


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
