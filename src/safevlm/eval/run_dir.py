"""The run directory on disk: cache keys, the ``samples.jsonl`` log, config and env files.

Layout and record fields: docs/eval-contract.md, "Run directory"; the record type is
:class:`safevlm.data.run_record.RunRecord`. ``samples.jsonl`` is an append-only log,
written and flushed one batch at a time, so a run killed at any moment (``kill -9``
included) loses at most the batch in flight:

- the last line may be cut short by the kill: :func:`~safevlm.data.run_record.read_records`
  drops it (and trims the file so the next append starts on a fresh line), and that
  sample is simply redone;
- a sample may appear more than once (a response re-judged, a failed generation
  retried): the last line for a ``(bench, uid)`` wins, and the finished run is
  compacted to one line per sample (:func:`~safevlm.data.run_record.write_records`,
  atomic replace).

A malformed line anywhere else is damage, not a kill, and stops the read naming the
line: nothing is skipped silently.

One process at a time writes a run directory (:class:`RunLock`): a second ``evaluate``
or ``rejudge`` on it stops at once, naming the process that holds it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Self

from safevlm.backends.base import Generation, GenerationParams
from safevlm.data.jsonl import naming_path, store_image
from safevlm.data.run_record import GenerationInfo, RunRecord
from safevlm.data.sample import ImageRef, Sample
from safevlm.errors import DataError, SafeVLMError

SAMPLES, CONFIG, ENV, RESULTS, IMAGES = "samples.jsonl", "config.json", "env.json", "results.json", "images"
LOCK = ".lock"
#: distributions whose versions go into env.json (missing ones are recorded as null)
PACKAGES = ("safevlm", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "numpy",
            "pillow", "openai", "pydantic", "typer", "rich")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _image_digest(ref: ImageRef) -> str:
    """sha256 of an image's file bytes, or of its decoded pixels when it lives in memory."""
    h = hashlib.sha256()
    if ref.path is not None and Path(ref.path).is_file():
        with open(ref.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if ref.path is not None:
        return "missing:" + ref.path
    im = ref.load()
    h.update(f"{im.mode}:{im.size}".encode())
    h.update(im.tobytes())
    return h.hexdigest()


def cache_key(model: str, sample: Sample, text: str, params: GenerationParams,
              extra: dict[str, Any] | None = None) -> str:
    """sha256 of (model spec, sample uid + sent text + earlier turns + image hashes + system
    prompt, generation parameters + output-changing backend options such as ``max_image_side``).

    Two runs with the same key would send the same request, so a response with this
    key can be re-used instead of generated again.
    """
    payload = {"model": model, "uid": sample.uid, "text": text,
               **({"history": [t.model_dump() for t in sample.history]} if sample.history else {}),
               "images": [_image_digest(ref) for ref in sample.images],
               "system": sample.metadata.get("system_prompt"), "params": asdict(params), "extra": extra or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _image_field(ref: ImageRef, data_root: Path | None, run_dir: Path | None = None) -> str | None:
    if ref.path is None:
        if run_dir is None:
            return None
        return store_image(ref, run_dir / IMAGES).relative_to(run_dir).as_posix()
    p = Path(ref.path)
    if data_root is not None:
        try:
            return p.resolve().relative_to(data_root.resolve()).as_posix()
        except ValueError:
            pass
    return str(p)


def make_record(bench: str, sample: Sample, text: str, gen: Generation, key: str | None,
                data_root: Path | None = None, run_dir: Path | None = None, **extra: Any) -> RunRecord:
    """One ``samples.jsonl`` line, without verdicts (added by the judging step).

    Images are paths relative to ``data_root`` (absolute when outside it). Images made
    in memory (the gym's) are saved into the run's ``images/`` and recorded relative
    to the run directory, so reports can show them; without ``run_dir`` they are null.
    ``extra`` fields are kept in the record (``generate`` adds ``model``).
    """
    images = [_image_field(ref, data_root, run_dir) for ref in sample.images]
    info = GenerationInfo(prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                          latency_s=round(gen.latency_s, 4), finish_reason=gen.finish_reason, error=gen.error,
                          **gen.extra)
    return RunRecord.of(bench, sample, text, gen.text, info, images=images, cache_key=key, **extra)


class RecordLog:
    """Appends records to ``samples.jsonl``, flushing and fsyncing after each batch."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = path.open("a", encoding="utf-8")

    def append(self, records: Iterable[RunRecord]) -> None:
        with naming_path(self.path):  # a full disk names the file
            for rec in records:
                self.fh.write(rec.to_json() + "\n")
            self.fh.flush()
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        with naming_path(self.path):  # the last flush on a full disk names the file
            self.fh.close()


class RunLocked(SafeVLMError):
    """Another process is writing this run directory."""


class RunLock:
    """Exclusive use of a run directory: ``with RunLock(run_dir): ...``.

    An ``flock`` on ``RUN_DIR/.lock``, so the kernel releases it when the holder
    exits in any way (``kill -9`` included) and a stale file never blocks a resume.
    The holder writes who it is (pid, host, start time, command) into the file, and a
    second process names it in :class:`RunLocked`. Without ``fcntl`` (Windows) there is no lock.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self.fh: Any = None

    def __enter__(self) -> Self:
        try:
            import fcntl
        except ImportError:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")  # "a+": not truncated before it is ours
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunLocked(f"{self.path.parent} is in use by {holder}; wait for it to finish or use another "
                            "--out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {now()} ({' '.join(sys.argv)})\n")
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.truncate(0)
            self.fh.close()  # closing releases the flock
            self.fh = None


def holding_run_lock(arg: str, *, create: bool) -> Callable:
    """Run the decorated function holding :class:`RunLock` on its run-directory argument ``arg``.

    ``create``: make the directory first (``evaluate`` does anyway); otherwise a
    missing directory is left to the function to report.
    """

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            run_dir = Path(bound.arguments[arg])
            if not create and not run_dir.is_dir():
                return fn(*args, **kwargs)
            with RunLock(run_dir):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc.msg} at line {exc.lineno})") from exc


def git_revision(start: Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding safevlm's source, or None."""
    where = start or Path(__file__).resolve().parents[1]  # the safevlm package folder
    try:  # the package file must be tracked there: a venv inside some other repo is not a checkout
        subprocess.run(["git", "-C", str(where), "ls-files", "--error-unmatch", "--", str(where / "__init__.py")],
                       capture_output=True, timeout=10, check=True)
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def environment() -> dict[str, Any]:
    """What env.json records: package versions, Python, platform, git revision.

    Versions come from package metadata, so torch is not imported just to name it.
    """
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"created": now(), "python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "packages": versions, "git": git_revision(),
            "argv": sys.argv}
