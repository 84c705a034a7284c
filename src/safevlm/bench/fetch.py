"""``safevlm bench fetch``: download a benchmark's pinned files into the data root.

What to download is the spec's ``sources`` (:mod:`safevlm.bench.sources`): raw files of
a Git repository at its commit, folders of images from the repository's archive at
that commit, archives from a Hugging Face Hub dataset (through ``huggingface_hub``:
``HF_ENDPOINT``, ``HF_TOKEN`` or a ``hf auth login`` token for gated sets), and the
authors' scoring files, which are reduced to ``eval/protocol.json``
(:mod:`safevlm.bench.protocol_extract`) and not kept.

Nothing unverified is put in place. Every download goes to the staging folder
``.safevlm-fetch/`` inside the benchmark's folder (the same file system, so the final
``os.replace`` is atomic), resumes with an HTTP Range request after a cut connection,
and is checked against its pinned sha256 (files), its pinned tree hash or count
(image folders) before it replaces anything; a file that fails is removed from the
staging folder and named in the error, and the good file already in place stays. The
staging folder is removed once a fetch completes; after a failure it keeps what a rerun
resumes from.
What was fetched, with the Hub commit a floating revision resolved to and the hash of
every image, is recorded in ``.safevlm-fetch.json`` for ``bench verify``.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import httpx

from safevlm.bench import protocol_extract as proto
from safevlm.bench.loader import benchmark_root
from safevlm.bench.protocol import check_document
from safevlm.bench.sources import (
    PROTOCOL_FILE,
    ImageSource,
    Sources,
    fetch_command,
    file_sha256,
    image_files,
    tree_sha256,
)
from safevlm.bench.spec import BenchmarkSpec
from safevlm.errors import ConfigError, DataError, SafeVLMError
from safevlm.progress import download_bar

STAGING = ".safevlm-fetch"
MARKER = ".safevlm-fetch.json"
DEFAULT_GIT_ENDPOINT = "https://github.com"
RETRIES = 3


class FetchError(DataError):
    """A download that failed or did not match its pin (the file named is the one refused)."""


def git_endpoint() -> str:
    """``SAFEVLM_GIT_ENDPOINT`` (a mirror, a test server) or https://github.com."""
    return os.environ.get("SAFEVLM_GIT_ENDPOINT", DEFAULT_GIT_ENDPOINT).rstrip("/")


def raw_url(repo: str, commit: str, path: str) -> str:
    return f"{git_endpoint()}/{repo}/raw/{commit}/{quote(path)}"


def archive_url(repo: str, commit: str) -> str:
    return f"{git_endpoint()}/{repo}/archive/{commit}.tar.gz"


@dataclass
class FetchReport:
    """What one ``bench fetch NAME`` did: one line per file or folder."""

    name: str
    root: Path
    done: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)
    text_only: list[str] = field(default_factory=list)


# -- downloads ---------------------------------------------------------------------------------------


def download(client: httpx.Client, url: str, part: Path, *, label: str, bar: Any,
             expected_size: int | None = None) -> Path:
    """GET ``url`` into ``part``, resuming what ``part`` already holds; retried after a cut connection.

    A server that ignores the Range header (200) restarts the file; one that answers 416 to a
    resume from the full size has nothing more to send.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    task = bar.add_task(label, total=expected_size)
    for attempt in range(RETRIES + 1):
        have = part.stat().st_size if part.exists() else 0
        if expected_size is not None and have > expected_size:
            part.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with client.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 416 and have:
                    return part
                if resp.status_code not in (200, 206):
                    raise FetchError(url, f"HTTP {resp.status_code} while downloading {label}")
                resume = resp.status_code == 206
                if resume and not resp.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                    part.unlink()
                    raise FetchError(url, f"the server resumed {label} at the wrong offset "
                                     f"({resp.headers.get('Content-Range')!r} for {have} bytes held)")
                total = _total(resp, have if resume else 0)
                bar.update(task, total=total or expected_size, completed=have if resume else 0)
                with part.open("ab" if resume else "wb") as fh:
                    for chunk in resp.iter_bytes():  # as it arrives: a cut keeps every byte received
                        fh.write(chunk)
                        bar.advance(task, len(chunk))
                if total is not None and part.stat().st_size < total:
                    raise httpx.RemoteProtocolError("connection closed before the end of the file")
                return part
        except httpx.TransportError as exc:  # a cut connection, a timeout: resume
            if attempt == RETRIES:
                raise FetchError(url, f"download of {label} failed after {RETRIES + 1} tries: {exc}; run the "
                                 f"same command again to resume from {part.stat().st_size if part.exists() else 0} "
                                 "bytes") from exc
            time.sleep(min(2 ** attempt, 5) * _BACKOFF)
    raise AssertionError("unreachable")


_BACKOFF = 1.0  # seconds per retry step (tests set 0)


def _total(resp: httpx.Response, offset: int) -> int | None:
    """The full size of the file from Content-Range (206) or Content-Length (200)."""
    cr = resp.headers.get("Content-Range", "")
    if "/" in cr and cr.rsplit("/", 1)[1].isdigit():
        return int(cr.rsplit("/", 1)[1])
    cl = resp.headers.get("Content-Length")
    return offset + int(cl) if cl and cl.isdigit() else None


def place(part: Path, final: Path, sha256: str, rel: str, source: str) -> None:
    """Move a staged file into place only if it matches its pin; a bad one is deleted and named."""
    got = file_sha256(part)
    if got != sha256:
        part.unlink()
        raise FetchError(rel, f"downloaded file refused: sha256 {got[:16]}... is not the pinned {sha256[:16]}... "
                         f"(from {source}); nothing was replaced")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)


def _hub_download(repo: str, filename: str, revision: str, staging: Path) -> Path:
    """One file of a Hub dataset through huggingface_hub (its own resume and retries); errors say what to do."""
    import huggingface_hub.constants as hub_constants
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError, HTTPError, LocalEntryNotFoundError

    if hub_constants.HF_HUB_OFFLINE:
        raise FetchError(f"hub:{repo}/{filename}", "HF_HUB_OFFLINE is set (the Makefile sets it for tests and "
                         "the demo): unset it to download from the Hub")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tqdm's rich bar is marked experimental
            from tqdm.rich import tqdm_rich
            return Path(hf_hub_download(repo, filename, repo_type="dataset", revision=revision,
                                        local_dir=staging, endpoint=os.environ.get("HF_ENDPOINT") or None,
                                        tqdm_class=tqdm_rich))
    except GatedRepoError as exc:
        raise FetchError(f"hub:{repo}/{filename}", _gated_message(repo)) from exc
    except LocalEntryNotFoundError as exc:
        raise FetchError(f"hub:{repo}/{filename}", f"the Hub could not be reached ({exc})") from exc
    except HTTPError as exc:  # an error status, or the connection (the Hub client's HTTP library)
        raise FetchError(f"hub:{repo}/{filename}", f"the download from the Hub failed: {exc}") from exc


def _gated_message(repo: str, page: str | None = None) -> str:
    page = page or f"https://huggingface.co/datasets/{repo}"
    return (f"the Hub dataset {repo} is gated: open {page} while logged in and accept its terms, then make a "
            "token available (HF_TOKEN, or `hf auth login`) and run the command again")


def _hub_info(repo: str, revision: str | None) -> Any:
    """The dataset's info at ``revision`` (its resolved commit, gating, LFS hashes) through HfApi."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HTTPError, RepositoryNotFoundError

    try:
        return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).dataset_info(
            repo, revision=revision, files_metadata=True)
    except GatedRepoError as exc:
        raise FetchError(f"hub:{repo}", _gated_message(repo)) from exc
    except (RepositoryNotFoundError, HTTPError) as exc:
        raise FetchError(f"hub:{repo}", f"could not read the dataset's information: {exc}") from exc


# -- archives and image folders ----------------------------------------------------------------------


def _members(names: Iterable[str], prefix: str) -> dict[str, str]:
    """Archive member -> path relative to ``prefix`` for the members under it; unsafe names refused."""
    out = {}
    for name in names:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts:
            raise DataError(name, "archive member with an absolute or '..' path; refused")
        rel = p.as_posix()
        if prefix:
            if not rel.startswith(prefix.rstrip("/") + "/"):
                continue
            rel = rel[len(prefix.rstrip("/")) + 1:]
        if rel and not rel.endswith("/"):
            out[name] = rel
    return out


def unpack(archive: Path, dest: Path, prefix: str = "") -> None:
    """Extract the regular files under ``prefix`` of a tar or zip archive into ``dest`` (links refused).

    ``prefix`` "" with a Hub archive whose members all sit in one top folder named like
    ``dest`` (``test.zip`` -> ``test/...`` for ``data/test``) drops that folder.
    """
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            members = _strip_top(_members(infos, prefix), dest, prefix)
            for name, rel in members.items():
                _write(dest / rel, lambda n=name: zf.open(n))
        return
    with tarfile.open(archive) as tf:
        infos = {m.name: m for m in tf.getmembers() if m.isfile()}
        members = _strip_top(_members(infos, prefix), dest, prefix)
        for name, rel in members.items():
            _write(dest / rel, lambda n=name: tf.extractfile(infos[n]))


def _strip_top(members: dict[str, str], dest: Path, prefix: str) -> dict[str, str]:
    if prefix or not members:
        return members
    tops = {rel.split("/", 1)[0] for rel in members.values()}
    if tops == {dest.name} and all("/" in rel for rel in members.values()):
        return {k: rel.split("/", 1)[1] for k, rel in members.items()}
    return members


def _write(path: Path, opener: Callable[[], Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener() as src, path.open("wb") as out:
        shutil.copyfileobj(src, out)


def check_images(folder: Path, img: ImageSource, label: str) -> dict[str, str]:
    """Hashes of the folder's images after checking them against the set's pins (tree hash, count)."""
    files = image_files(folder)
    if img.count is not None and len(files) != img.count:
        raise FetchError(label, f"{len(files)} images where the spec pins {img.count}; nothing was replaced")
    if img.tree_sha256 is not None and tree_sha256(folder) != img.tree_sha256:
        raise FetchError(label, "the images differ from the spec's pinned tree hash; nothing was replaced")
    if not files:
        raise FetchError(label, "the download holds no image files; nothing was replaced")
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}


def swap_in(new: Path, final: Path, staging: Path) -> None:
    """Replace folder ``final`` by ``new`` (both checked): rename the old one away first, then remove it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = staging / f"old-{final.name}-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


# -- the fetch ---------------------------------------------------------------------------------------


class _Fetcher:
    def __init__(self, spec: BenchmarkSpec, root: Path, client: httpx.Client, bar: Any, report: FetchReport):
        self.spec, self.src, self.root, self.client, self.bar, self.report = spec, spec.sources, root, client, bar, report
        self.staging = root / STAGING
        self.marker = _read_marker(root)
        self.hub_revision: str | None = None
        self._lfs: dict[str, str | None] = {}
        self._archives: dict[tuple[str, str], Path] = {}

    def save_marker(self) -> None:
        self.marker.update(name=self.spec.name, spec=str(self.spec.spec_path))
        tmp = self.root / (MARKER + ".tmp")
        tmp.write_text(json.dumps(self.marker, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.root / MARKER)

    def file(self, rel: str) -> None:
        pin = self.src.files[rel]
        final = self.root / rel
        if final.is_file() and final.stat().st_size == pin.bytes and file_sha256(final) == pin.sha256:
            self.report.current.append(rel)
            self.marker.setdefault("files", {})[rel] = pin.sha256
            return
        upstream = pin.path or rel
        part = self.staging / "files" / (rel + ".part")
        if pin.origin == "git":
            url = raw_url(self.src.git.repo, self.src.git.commit, upstream)
            download(self.client, url, part, label=rel, bar=self.bar, expected_size=pin.bytes)
        else:
            got = _hub_download(self.src.hub.repo, upstream, self._hub_rev(), self.staging / "hub")
            url = f"hub:{self.src.hub.repo}/{upstream}"
            part.parent.mkdir(parents=True, exist_ok=True)
            os.replace(got, part)
        place(part, final, pin.sha256, rel, url)
        self.report.done.append(rel)
        self.marker.setdefault("files", {})[rel] = pin.sha256
        self.save_marker()

    def _hub_rev(self) -> str:
        if self.hub_revision is None:
            info = _hub_info(self.src.hub.repo, self.src.hub.revision)
            if getattr(info, "gated", False) and not _has_token():
                raise FetchError(f"hub:{self.src.hub.repo}", _gated_message(self.src.hub.repo, self.src.gated))
            self.hub_revision = info.sha or self.src.hub.revision or "main"
            self._lfs = {s.rfilename: getattr(s.lfs, "sha256", None) for s in info.siblings or [] if s.lfs}
            self.marker["hub"] = {"repo": self.src.hub.repo, "revision": self.hub_revision}
        return self.hub_revision

    def images(self, img: ImageSource) -> None:
        final = self.root / img.dir
        label = f"{img.dir}/"
        if img.origin == "manual":
            self.report.by_hand.append(f"{img.dir}: {img.how}")
            return
        done = self.marker.get("images", {}).get(img.dir)
        if done and final.is_dir() and _same_images(final, done):
            self.report.current.append(label)
            return
        new = self.staging / "unpack" / img.dir
        shutil.rmtree(new, ignore_errors=True)
        if img.origin == "git":
            archive = self._git_archive()
            unpack(archive, new, prefix=f"{_archive_top(archive)}/{img.path.strip('/')}")
        else:
            rev = self._hub_rev()
            got = _hub_download(self.src.hub.repo, img.path, rev, self.staging / "hub")
            expected = img.archive_sha256 or self._lfs.get(img.path)
            if expected and file_sha256(got) != expected:
                got.unlink()
                raise FetchError(img.path, f"downloaded archive refused: its sha256 is not the "
                                 f"{'pinned' if img.archive_sha256 else 'Hub-listed'} {expected[:16]}...; nothing "
                                 "was replaced")
            unpack(got, new)
            got.unlink()
        hashes = check_images(new, img, label)
        swap_in(new, final, self.staging)
        self.marker.setdefault("images", {})[img.dir] = {"count": len(hashes), "files": hashes,
                                                          "tree_sha256": tree_sha256(final)}
        self.save_marker()
        self.report.done.append(f"{label} ({len(hashes)} images)")

    def _git_archive(self) -> Path:
        key = (self.src.git.repo, self.src.git.commit)
        if key not in self._archives:
            name = f"{key[0].replace('/', '-')}-{key[1]}.tar.gz"
            part = self.staging / "archives" / (name + ".part")
            download(self.client, archive_url(*key), part, label=f"{key[0]} archive", bar=self.bar)
            self._archives[key] = part
        return self._archives[key]

    def protocol(self) -> None:
        src = self.src.protocol
        final = self.root / PROTOCOL_FILE
        if final.is_file():
            try:
                if not check_document(json.loads(final.read_text(encoding="utf-8")), src):
                    self.report.current.append(PROTOCOL_FILE)
                    return
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
        repo = src.via or src.repo
        texts = {}
        for path, sha in src.files.items():
            part = self.staging / "protocol" / (path + ".part")
            download(self.client, raw_url(repo, src.commit, path), part, label=f"scoring file {path}", bar=self.bar)
            got = file_sha256(part)
            if got != sha:
                part.unlink()
                raise FetchError(path, f"the authors' scoring file refused: sha256 {got[:16]}... is not the pinned "
                                 f"{sha[:16]}... (from {raw_url(repo, src.commit, path)}); {PROTOCOL_FILE} not written")
            texts[path] = part.read_text(encoding="utf-8")
            part.unlink()
        doc = proto.extract(src, texts, origin=f" (from {repo} @ {src.commit[:7]})")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, final)
        self.marker["protocol"] = {"repo": src.repo, "commit": src.commit, "items": len(doc["items"])}
        self.save_marker()
        self.report.done.append(f"{PROTOCOL_FILE} ({len(doc['items'])} items)")

    def finish(self) -> None:
        for part in self._archives.values():
            part.unlink(missing_ok=True)
        shutil.rmtree(self.staging / "unpack", ignore_errors=True)


def _has_token() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None


def _archive_top(archive: Path) -> str:
    """The single top folder of a Git host's archive (``repo-commit``)."""
    with tarfile.open(archive) as tf:
        for m in tf:
            return m.name.split("/", 1)[0]
    raise DataError(archive, "empty archive")


def _read_marker(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / MARKER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def read_marker(root: Path) -> dict[str, Any]:
    """What ``bench fetch`` recorded in ``root`` (empty when it never ran there)."""
    return _read_marker(root)


def _same_images(folder: Path, done: dict[str, Any]) -> bool:
    files = image_files(folder)
    return len(files) == done.get("count") and tree_sha256(folder) == done.get("tree_sha256")


def fetch(spec: BenchmarkSpec, variants: list[str] | None = None, *, data_root: str | Path | None = None,
          images: bool = True, protocol: bool = True, progress: bool = True,
          client: httpx.Client | None = None) -> FetchReport:
    """Download what ``variants`` of ``spec`` read (None: every variant) into the benchmark's folder.

    ``images=False`` fetches the text only (the benchmark then runs text-only). Raises
    :class:`FetchError` naming the file that failed; everything fetched before it stays.
    """
    src: Sources | None = spec.sources
    if src is None:
        raise ConfigError(f"benchmark {spec.name!r} records no sources in its spec ({spec.spec_path}); get its data "
                          f"from {spec.homepage or 'its authors'} and point the data root at it")
    unknown = [v for v in variants or [] if v not in spec.variants]
    if unknown:
        raise ConfigError(f"benchmark {spec.name!r} has no variant {unknown[0]!r}; variants: {', '.join(spec.variants)}")
    root = benchmark_root(spec, data_root=data_root)
    report = FetchReport(spec.name, root)
    root.mkdir(parents=True, exist_ok=True)
    own = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, read=120.0),
                                    headers={"User-Agent": "safevlm-bench-fetch"})
    try:
        with download_bar(enabled=progress) as bar:
            f = _Fetcher(spec, root, client, bar, report)
            try:
                for rel in src.files_for(variants):
                    f.file(rel)
                for img in src.images_for(variants):
                    if images:
                        f.images(img)
                    else:
                        report.text_only.append(img.dir)
                if protocol and src.protocol is not None:
                    f.protocol()
            finally:
                f.finish()
            shutil.rmtree(root / STAGING, ignore_errors=True)  # all done: no partial download to resume
    except SafeVLMError as exc:
        if isinstance(exc, DataError):
            raise FetchError(exc.path, f"{exc.problem} [{spec.name}: {src.origin_url()}; "
                             f"rerun `{fetch_command(spec.name)}` to resume]") from exc
        raise
    finally:
        if own:
            client.close()
    return report
