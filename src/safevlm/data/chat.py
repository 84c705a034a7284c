"""SFT examples in TRL's conversational vision format, with their images on disk.

Every method that writes fine-tuning data (SafeCoT's refusal and acceptance set, the
guard's rewriter set) writes the same thing: one JSON object per line with
``messages`` (an optional system turn, a user turn whose content lists an
``{"type": "image"}`` block per image before the text, the assistant target) and
``images`` (paths relative to the output folder, or absolute), plus provenance fields.
``safevlm train sft`` reads it back (:mod:`safevlm.train.sft_data`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from safevlm.data.jsonl import store_image
from safevlm.data.sample import SYSTEM_PROMPT_KEY, Sample, check_image


class ImageWriter:
    """Puts a sample's images where its examples can point at them.

    Images made in memory (the gym's) are rendered into ``out/images/``; files are
    checked (a corrupt one stops the build with its name) and referenced in place, or
    copied into ``out/images/`` under a stable name when ``copy`` is set.
    """

    def __init__(self, out: Path, copy: bool = False):
        self.dir, self.copy, self.out = out / "images", copy, out

    def paths(self, sample: Sample) -> list[str]:
        paths = []
        for ref in sample.images:
            if ref.in_memory:
                paths.append(store_image(ref, self.dir).relative_to(self.out).as_posix())
                continue
            check_image(ref.path)
            src = Path(ref.path).resolve()
            if self.copy:
                digest = hashlib.sha256(str(src).encode()).hexdigest()[:16]  # stable across runs and machines
                dst = self.dir / f"{digest}{src.suffix.lower()}"
                self.dir.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    shutil.copyfile(src, dst)
                paths.append(dst.relative_to(self.out).as_posix())
            else:
                paths.append(str(src))
        return paths


def chat_example(sample: Sample, prompt: str, target: str, images: list[str], *, system: bool = True,
                 **provenance: Any) -> dict[str, Any]:
    """One training example: the sample's system prompt (``system``), the user turn ``prompt``, ``target``."""
    messages: list[dict[str, Any]] = []
    if system and sample.metadata.get(SYSTEM_PROMPT_KEY):
        messages.append({"role": "system", "content": [{"type": "text", "text": sample.metadata[SYSTEM_PROMPT_KEY]}]})
    content: list[dict[str, Any]] = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
    messages += [{"role": "user", "content": content},
                 {"role": "assistant", "content": [{"type": "text", "text": target}]}]
    return {"id": sample.uid, "expected": sample.expected.value, "source": sample.source,
            "category": sample.category, "risk_category": sample.risk_category, **provenance, "images": images,
            "messages": messages}
