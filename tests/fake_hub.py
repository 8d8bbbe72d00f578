"""A small stand-in for the Hugging Face Hub's HTTP API, standard library only.

The Hub cannot be reached from the tests, so this serves, on 127.0.0.1, the endpoints that
``huggingface_hub.HfApi`` (the real client) calls to push a dataset folder: who am I, create a
repository, read it (visibility, files), change its visibility, list its files, pre-upload
(every file is "regular": sent inline in the commit), check a card's YAML metadata and commit
(added and deleted files), and what ``snapshot_download`` reads to download files (the
tree, then ``resolve/REVISION/PATH`` with HEAD for the metadata and GET, byte ranges included,
for the bytes; a file named in ``Repo.lfs`` is announced as a Git LFS file with that SHA-256,
which may be set to a wrong one to test a client's check)::

    with FakeHub() as hub:
        hub.repos["someone/data"] = Repo(private=False, files={"old.txt": b"x"})
        # HF_ENDPOINT=hub.url HF_TOKEN=hf_x python -m inpars.publish push DIR --repo-id ...

``hub.requests`` records "METHOD path" of every request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_REPO = r"/api/datasets/([^/]+/[^/]+)"
_RESOLVE = r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)"


@dataclass
class Repo:
    """A dataset repository: its visibility and its files."""

    private: bool
    files: dict[str, bytes] = field(default_factory=lambda: {".gitattributes": b""})
    #: files stored with Git LFS -> the SHA-256 the Hub announces for them
    lfs: dict[str, str] = field(default_factory=dict)


class FakeHub:
    """The server; a context manager that starts and stops it."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        hub = self

        class Handler(_Handler):
            owner = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHub

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, bytes]:
        self.owner.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        return self.path.split("?")[0], self.rfile.read(length)

    def _repo_url(self, repo_id: str) -> str:
        return f"http://{self.headers['Host']}/datasets/{repo_id}"

    def _missing(self) -> None:
        self._answer(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})

    def do_GET(self) -> None:
        path, _ = self._route()
        if path == "/api/whoami-v2":
            return self._answer(200, {"name": "someone", "type": "user", "orgs": []})
        if match := re.fullmatch(_REPO + r"(?:/revision/[^/]+)?", path):
            repo = self.owner.repos.get(match.group(1))
            if repo is None:
                return self._missing()
            siblings = [{"rfilename": name} for name in sorted(repo.files)]
            return self._answer(
                200,
                {"id": match.group(1), "private": repo.private, "sha": "0" * 40,
                 "siblings": siblings},
            )  # fmt: skip
        if match := re.fullmatch(_REPO + r"/tree/[^/]+(?:/.*)?", path):
            repo = self.owner.repos.get(match.group(1))
            if repo is None:
                return self._missing()
            tree = [
                {"type": "file", "path": name, "size": len(data),
                 "oid": hashlib.sha1(data).hexdigest()}
                | ({"lfs": {"oid": repo.lfs[name], "size": len(data), "pointerSize": 130}}
                   if name in repo.lfs else {})
                for name, data in sorted(repo.files.items())
            ]  # fmt: skip
            return self._answer(200, tree)
        if re.fullmatch(_RESOLVE, path):
            return self._resolve(path, with_body=True)
        self._answer(404, {"error": f"the fake hub does not serve GET {path}"})

    def do_HEAD(self) -> None:
        path, _ = self._route()
        if re.fullmatch(_RESOLVE, path):
            return self._resolve(path, with_body=False)
        self._answer(404, {"error": f"the fake hub does not serve HEAD {path}"})

    def _resolve(self, path: str, with_body: bool) -> None:
        """A file's bytes (from ``Range``'s start, if asked) with the Hub's metadata headers."""
        repo_id, _, name = re.fullmatch(_RESOLVE, path).groups()  # type: ignore[union-attr]
        repo = self.owner.repos.get(repo_id)
        if repo is None or name not in repo.files:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if repo else "RepoNotFound")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        data = repo.files[name]
        start = 0
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start = int(wanted[len("bytes=") :].split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", "0" * 40)
        if name in repo.lfs:
            self.send_header("X-Linked-Etag", f'"{repo.lfs[name]}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if with_body:
            self.wfile.write(data[start:])

    def do_POST(self) -> None:
        path, body = self._route()
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}"
            if repo_id in self.owner.repos:  # the client's exist_ok reads the url from a 409
                answer = {"error": "already exists", "url": self._repo_url(repo_id)}
                return self._answer(409, answer)
            self.owner.repos[repo_id] = Repo(private=request.get("visibility") == "private")
            return self._answer(200, {"url": self._repo_url(repo_id)})
        if path == "/api/validate-yaml":  # the client sends a README.md's front matter first
            return self._validate_card(json.loads(body)["content"])
        if re.fullmatch(_REPO + r"/preupload/[^/]+", path):
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                for f in json.loads(body)["files"]
            ]
            return self._answer(200, {"files": files})
        if match := re.fullmatch(_REPO + r"/commit/[^/]+", path):
            repo = self.owner.repos[match.group(1)]
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    del repo.files[item["value"]["path"]]
            url = f"{self._repo_url(match.group(1))}/commit/{'1' * 40}"
            return self._answer(200, {"commitUrl": url, "commitOid": "1" * 40})
        self._answer(404, {"error": f"the fake hub does not serve POST {path}"})

    def _validate_card(self, content: str) -> None:
        """The Hub's check of a card: YAML metadata between --- lines, a mapping."""
        import yaml

        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError as exc:
            metadata, problem = None, str(exc)
        else:
            problem = "no YAML metadata between --- lines"
        if not isinstance(metadata, dict):
            return self._answer(400, {"errors": [{"message": problem}]})
        self._answer(200, {"errors": [], "warnings": []})

    def do_PUT(self) -> None:
        path, body = self._route()
        if match := re.fullmatch(_REPO + r"/settings", path):
            repo = self.owner.repos.get(match.group(1))
            if repo is None:
                return self._missing()
            settings = json.loads(body or b"{}")
            if "visibility" in settings:
                repo.private = settings["visibility"] == "private"
            return self._answer(200, {})
        self._answer(404, {"error": f"the fake hub does not serve PUT {path}"})

    def log_message(self, *args: Any) -> None:
        pass
