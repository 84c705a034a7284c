"""Which chat template SFT trains with.

``assistant_only_loss`` needs a template with ``{% generation %}`` markers, and real
checkpoints rarely ship one: TRL swaps in a training variant for templates it knows, and
fails for the others (Llama 3.2 Vision, LLaVA-1.5, InternVL, Pixtral). The family
registry names a training variant for every family (docs/models.md, "Chat templates").
Whichever template is chosen must keep two promises, checked here on a probe chat (one
image, one question, one answer) before any training step:

1. the prompt is encoded exactly as generation encodes it with the checkpoint's own
   template (TRL tokenizes training chats without special tokens, so a template that
   leaves the BOS to the tokenizer trains without it: docs/models.md, "Pitfalls");
2. the supervised tokens start right after that prompt and end with an end-of-turn token,
   so the model learns to answer and to stop.

Candidates, in order: the checkpoint's template (if it has markers), TRL's training
variant, the family's. The first that keeps both promises is used; if none does, training
stops with the reasons instead of supervising the wrong tokens on a rented GPU.
"""

from __future__ import annotations

from typing import Any

from safevlm.errors import ConfigError
from safevlm.models.families import Family, chat_template

PROBE_QUESTION = "What is in the picture?"
PROBE_ANSWER = "A red square."


def _first(seq: Any) -> list[int]:
    """A single chat's ids/mask from ``apply_chat_template`` (a list, or a batch of one; Pixtral's
    processor returns tensors even when not asked to)."""
    seq = seq.tolist() if hasattr(seq, "tolist") else list(seq)
    return list(seq[0]) if seq and isinstance(seq[0], (list, tuple)) else seq


def check_training_template(processor: Any, template: str) -> str | None:
    """Why training with ``template`` would break a promise above; None if it keeps both."""
    from PIL import Image

    user = {"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (32, 32), (200, 30, 30))},
                                        {"type": "text", "text": PROBE_QUESTION}]}
    answer = {"role": "assistant", "content": [{"type": "text", "text": PROBE_ANSWER}]}
    tok = processor.tokenizer
    try:  # as generation encodes: the checkpoint's template, special tokens as the processor adds them
        prompt = _first(processor.apply_chat_template([user], add_generation_prompt=True, tokenize=True,
                                                      return_dict=True)["input_ids"])
        # as TRL's collator encodes a training chat
        enc = processor.apply_chat_template([user, answer], chat_template=template, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True,
                                            processor_kwargs={"add_special_tokens": False})
    except Exception as exc:  # noqa: BLE001 - a template that cannot render the probe is a reason, not a crash
        return f"it cannot render a chat with an image ({type(exc).__name__}: {exc})"
    ids, mask = _first(enc["input_ids"]), _first(enc["assistant_masks"])
    n = len(prompt)
    if ids[:n] != prompt:
        k = next((i for i, (a, b) in enumerate(zip(ids, prompt)) if a != b), min(len(ids), n))
        return (f"its prompt encodes differently from the checkpoint's from token {k} on: "
                f"{tok.decode(ids[k:k + 6])!r} instead of {tok.decode(prompt[k:k + 6])!r}")
    if 1 not in mask:
        return "it marks no answer tokens (no {% generation %} markers)"
    if mask.index(1) != n:
        return f"the supervised tokens start at position {mask.index(1)}, not right after the prompt ({n} tokens)"
    stops = set(tok.all_special_ids) | set(tok.get_added_vocab().values())
    supervised = [t for t, m in zip(ids, mask) if m and tok.decode([t]).strip()]
    if not supervised or supervised[-1] not in stops:
        return f"the supervised tokens {tok.decode(supervised)!r} do not end with an end-of-turn token"
    return None


def training_chat_template(processor: Any, family: Family) -> str | None:
    """The template SFT must train with, or None when the processor's own keeps both promises."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    own = processor.chat_template
    candidates: list[tuple[str, str | None]] = []
    if own and has_generation_markers(own):
        candidates.append(("the checkpoint's template", None))
    try:
        trl_variant = get_training_chat_template(processor)
    except ValueError:  # TRL does not know this template
        trl_variant = None
    if trl_variant is not None:
        candidates.append(("TRL's training variant", trl_variant))
    candidates.append((f"safevlm's {family.training_template}.jinja", chat_template(family.training_template)))
    reasons = []
    for name, template in candidates:
        why = check_training_template(processor, template if template is not None else own)
        if why is None:
            return template
        reasons.append(f"{name}: {why}")
    raise ConfigError(f"no chat template keeps the prompt as at inference and supervises the answer and its "
                      f"end-of-turn token for this {family.name} checkpoint: " + "; ".join(reasons)
                      + ". Give a template with {% generation %} markers (settings: chat_template_path=FILE.jinja); "
                      "docs/models.md, \"Chat templates\"")
