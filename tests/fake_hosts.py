"""A loopback HTTP server that imitates a Git host and the Hugging Face Hub (no network in tests).

Git host (``SAFEVLM_GIT_ENDPOINT``): ``GET /OWNER/REPO/raw/COMMIT/PATH`` and
``GET /OWNER/REPO/archive/COMMIT.tar.gz``. Hub (``HF_ENDPOINT``), what huggingface_hub
requests: ``GET /api/datasets/ID/revision/REV`` (dataset info with its commit, gating and
LFS hashes) and ``HEAD``/``GET /datasets/ID/resolve/REV/PATH`` (with ``X-Repo-Commit`` and
``ETag``). Both answer ``Range: bytes=N-`` with 206. ``cut[path] = n`` makes the next GET
of ``path`` send its headers and ``n`` bytes, then drop the connection; ``gated`` repos
answer 401/403 with the Hub's ``X-Error-Code: GatedRepo`` unless the request carries
``Authorization: Bearer <token>`` for a repo in ``accepted``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


class FakeHosts:
    def __init__(self) -> None:
        self.git: dict[str, bytes] = {}  # "/owner/repo/raw/commit/path" -> bytes
        self.hub: dict[str, dict[str, bytes]] = {}  # dataset id -> {path: bytes}
        self.hub_sha: dict[str, str] = {}
        self.gated: set[str] = set()
        self.accepted: dict[str, str] = {}  # dataset id -> token that accepted its terms
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str, str | None]] = []  # method, path, Range
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeHosts:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_git_raw(self, repo: str, commit: str, path: str, data: bytes) -> None:
        self.git[f"/{repo}/raw/{commit}/{path}"] = data

    def add_git_archive(self, repo: str, commit: str, files: dict[str, bytes]) -> None:
        top = f"{repo.split('/')[1]}-{commit}"
        self.git[f"/{repo}/archive/{commit}.tar.gz"] = tar_gz({f"{top}/{k}": v for k, v in files.items()})

    def add_hub(self, repo: str, files: dict[str, bytes], sha: str = "c" * 40, gated: bool = False) -> None:
        self.hub[repo], self.hub_sha[repo] = files, sha
        if gated:
            self.gated.add(repo)

    def gets(self, path_part: str) -> list[tuple[str, str, str | None]]:
        return [e for e in self.log if e[0] == "GET" and path_part in e[1]]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hosts = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                hosts.log.append((self.command, path, self.headers.get("Range")))
                if path.startswith("/api/datasets/"):
                    return self._info(path[len("/api/datasets/"):])
                if path.startswith("/datasets/") and "/resolve/" in path:
                    repo, rest = path[len("/datasets/"):].split("/resolve/", 1)
                    rev, file = rest.split("/", 1)
                    if repo in hosts.gated and hosts.accepted.get(repo) != self._token():
                        return self._error(403 if self._token() else 401, {"X-Error-Code": "GatedRepo",
                                           "X-Error-Message": "Access to this dataset is restricted."})
                    data = hosts.hub.get(repo, {}).get(file)
                    if data is None or rev not in ("main", hosts.hub_sha[repo]):
                        return self._error(404, {"X-Error-Code": "EntryNotFound"})
                    return self._send(data, head, path, {"X-Repo-Commit": hosts.hub_sha[repo],
                                                         "ETag": f'"{hashlib.sha256(data).hexdigest()}"'})
                data = hosts.git.get(path)
                if data is None:
                    return self._error(404, {})
                return self._send(data, head, path, {})

            def _token(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

            def _info(self, rest: str) -> None:
                repo = rest.partition("/revision/")[0]
                if repo not in hosts.hub:
                    return self._error(404, {"X-Error-Code": "RepoNotFound"})
                siblings = [{"rfilename": k, "size": len(v), "lfs": {"sha256": hashlib.sha256(v).hexdigest(),
                                                                     "size": len(v), "pointerSize": 134}}
                            for k, v in hosts.hub[repo].items()]
                body = json.dumps({"id": repo, "sha": hosts.hub_sha[repo], "siblings": siblings,
                                   "gated": "manual" if repo in hosts.gated else False, "private": False}).encode()
                self._send(body, False, None, {"Content-Type": "application/json"})

            def _error(self, code: int, headers: dict[str, str]) -> None:
                body = json.dumps({"error": headers.get("X-Error-Message", "error")}).encode()
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send(self, data: bytes, head: bool, path: str | None, headers: dict[str, str]) -> None:
                start, rng = 0, self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes="):-1])
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if start else 200)
                for k, v in headers.items():
                    self.send_header(k, v)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                cut = hosts.cut.pop(path, None) if path else None
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        return Handler
