"""Responses without judging: :func:`generate` writes one run record per sample (``safevlm generate``).

Each line has the shape of a run's ``samples.jsonl`` without verdicts
(:func:`safevlm.eval.run_dir.make_record`), so :func:`safevlm.eval.judge_file.judge_file`
(``safevlm judge --input``) scores it with any judge. Lines are written and flushed every
``chunk`` samples, so a crash keeps what was done; a failed generation is a line with its
``error``, never a missing line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safevlm.backends import Backend, GenerationParams
from safevlm.data.sample import Sample


@dataclass
class GenerateResult:
    """What :func:`generate` wrote: how many responses, how many failed (and the first error), tokens."""

    path: Path
    responses: int
    failed: int
    tokens: int
    first_error: str | None


def generate(backend: Backend, samples: list[Sample], out: str | Path, *, source: str,
             params: GenerationParams | None = None, data_root: Path | None = None, chunk: int = 32,
             progress: Callable[[int], None] | None = None) -> GenerateResult:
    """Generate a response for each of ``samples`` with ``backend`` and write them to ``out`` (JSONL).

    ``source``: the records' ``bench`` (a benchmark's uid, or ``input:FILE``); ``data_root``:
    images are recorded relative to it; ``progress(n)`` is called as responses arrive.
    """
    from safevlm.data.jsonl import naming_path
    from safevlm.eval.run_dir import make_record

    out = Path(out)
    params = params or GenerationParams()
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = tokens = 0
    first_error: str | None = None
    with naming_path(out), out.open("w", encoding="utf-8") as fh:
        for start in range(0, len(samples), max(chunk, 1)):
            part = samples[start:start + max(chunk, 1)]
            gens = backend.generate(part, params, progress=progress)
            for sample, gen in zip(part, gens, strict=True):
                rec = make_record(source, sample, sample.text, gen, None, data_root, out.parent, model=backend.name)
                fh.write(rec.to_json() + "\n")
                failed += gen.error is not None
                first_error = first_error or gen.error
                tokens += gen.completion_tokens
            fh.flush()
    return GenerateResult(out, len(samples), failed, tokens, first_error)
