"""``RUN_DIR/judge_calls.jsonl``: every judge-model call an official protocol made, cached by request.

An official LLM-judge protocol may cost thousands of paid calls, so none is made twice:
each call is keyed by the sha256 of the exact request (judge model spec, system and user
text, image bytes, decoding settings) and appended, with its reply or its error, one
chunk at a time (flushed and fsynced), the moment it returns. A killed run resumes
without repeating a finished call; a failed call is retried on the next run, as a failed
generation is. The lines are the audit trail too: what exactly was sent, what came back.
A cut-off last line (a kill mid-write) is dropped, like ``samples.jsonl``'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from safevlm.backends import Backend, GenerationParams
from safevlm.data.jsonl import naming_path
from safevlm.data.sample import SYSTEM_PROMPT_KEY, ImageRef, Sample
from safevlm.eval.run_dir import now
from safevlm.judges.protocols import JudgeRequest

log = logging.getLogger(__name__)

JUDGE_CALLS = "judge_calls.jsonl"


def _digest(path: str) -> str:
    h = hashlib.sha256()
    p = Path(path)
    if not p.is_file():
        return "missing:" + path
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def request_key(model: str, req: JudgeRequest) -> str:
    """sha256 of what decides the judge's reply: model spec, texts, image bytes, decoding settings."""
    payload = {"model": model, "system": req.system, "text": req.text, "images": [_digest(p) for p in req.images],
               "max_new_tokens": req.max_new_tokens, "temperature": req.temperature, "top_p": req.top_p,
               "seed": req.seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class JudgeCallStore:
    """The cache of judge calls in a run directory (see the module docstring)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / JUDGE_CALLS
        self.calls: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        keep = len(data)
        for k, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                if k >= len(lines) - 2:  # the last line, cut off by a kill: redo that call
                    keep = sum(len(x) + 1 for x in lines[:k])
                    log.warning("%s: dropped a cut-off last line (an interrupted run); that call is redone", self.path)
                    break
                raise ValueError(f"{self.path}:{k + 1}: malformed judge-call record") from None
            self.calls[entry["key"]] = entry
        if keep < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)

    def reply(self, key: str) -> str | None:
        """The stored reply of a finished call (None: not made yet, or it failed and is retried)."""
        entry = self.calls.get(key)
        return None if entry is None or entry.get("error") is not None else entry.get("reply")

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        entries = list(entries)
        if not entries:
            return
        with naming_path(self.path), self.path.open("a", encoding="utf-8") as fh:
            for e in entries:
                fh.write(json.dumps(e, ensure_ascii=False) + "\n")
                self.calls[e["key"]] = e
            fh.flush()
            os.fsync(fh.fileno())

    def run(self, backend: Backend | None, model: str, requests: Sequence[JudgeRequest], *, chunk: int = 16,
            progress: Callable[[int], None] | None = None) -> dict[str, tuple[str | None, str | None]]:
        """``{key: (reply, error)}`` for ``requests``: stored replies re-used, the rest asked and stored.
        ``progress(n)`` is called as requests are answered (from the cache or the judge)."""
        out: dict[str, tuple[str | None, str | None]] = {}
        todo: dict[str, JudgeRequest] = {}
        for req in requests:
            key = request_key(model, req)
            stored = self.reply(key)
            if stored is not None:
                out[key] = (stored, None)
            else:
                todo.setdefault(key, req)
        if todo and backend is None:
            raise ValueError("judge calls to make but no judge backend")
        if progress and len(requests) > len(todo):
            progress(len(requests) - len(todo))
        by_params: dict[tuple, list[tuple[str, JudgeRequest]]] = {}
        for key, req in todo.items():
            by_params.setdefault((req.max_new_tokens, req.temperature, req.top_p, req.seed), []).append((key, req))
        for (max_new, temp, top_p, seed), batch in by_params.items():
            params = GenerationParams(max_new_tokens=max_new, temperature=temp, top_p=top_p, seed=seed)
            samples = [Sample(id=str(k), source="judge", text=req.text, images=[ImageRef(path=p) for p in req.images],
                              expected="comply", metadata={SYSTEM_PROMPT_KEY: req.system} if req.system else {})
                       for k, (_, req) in enumerate(batch)]
            for done in backend.generate_stream(samples, params, chunk=chunk):
                entries = []
                for i, gen in done:
                    key, req = batch[i]
                    out[key] = (None, gen.error) if gen.error is not None else (gen.text, None)
                    entries.append({"key": key, "model": model, "system": req.system, "text": req.text,
                                    "images": list(req.images), "params": {"max_new_tokens": max_new,
                                                                           "temperature": temp, "top_p": top_p,
                                                                           "seed": seed},
                                    "reply": None if gen.error is not None else gen.text, "error": gen.error,
                                    "created": now()})
                self.append(entries)
                if progress:
                    progress(len(done))
        return out
