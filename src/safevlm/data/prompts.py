"""Prompt wrappers: how a question is presented to a model that was fine-tuned on wrapped prompts.

A wrapper is a template with a ``{question}`` placeholder. A model fine-tuned on
wrapped prompts must be evaluated (and served, and rewarded) on the same wrapping, so
the wrapper travels with the data: the data card and the checkpoint's
``safevlm_training.json`` record it, and ``safevlm eval --prompt-wrapper`` applies it.

Presets:

- ``safecot``: SafeCoT's layout (docs/methods.md, "SafeCoT: data"): the system text
  *inside the user turn*, then an instruction to think step by step and answer, then
  the question. The exact instruction wording is not published in the sources we
  have, so the sentence is ours, in that shape;
- ``none``: the question as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from safevlm.errors import ConfigError

SAFECOT_SYSTEM = "You are a helpful and harmless assistant."
SAFECOT_INSTRUCTION = "Think step by step, then answer."

PRESETS: dict[str, str] = {
    "safecot": f"{SAFECOT_SYSTEM} {SAFECOT_INSTRUCTION}\n{{question}}",
    "none": "{question}",
}


@dataclass(frozen=True)
class PromptWrapper:
    """``template.format(question=...)``; ``name`` is the preset or ``custom``."""

    name: str
    template: str

    def __post_init__(self) -> None:
        if "{question}" not in self.template:
            raise ConfigError(f"prompt wrapper {self.name!r}: the template needs a {{question}} placeholder, "
                              f"got {self.template!r}")
        try:
            self.template.format(question="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"prompt wrapper {self.name!r}: only {{question}} may appear in braces "
                              f"(write {{{{ }}}} for a literal brace): {exc}") from exc

    def apply(self, question: str) -> str:
        return self.template.format(question=question)

    @property
    def is_identity(self) -> bool:
        return self.template == "{question}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "template": self.template}


def get_wrapper(spec: str | PromptWrapper | None) -> PromptWrapper:
    """A preset name (``safecot``, ``none``), a template containing ``{question}``, or None (= none)."""
    if isinstance(spec, PromptWrapper):
        return spec
    if spec is None or spec == "":
        return PromptWrapper("none", PRESETS["none"])
    if spec in PRESETS:
        return PromptWrapper(spec, PRESETS[spec])
    if "{question}" in spec:
        return PromptWrapper("custom", spec)
    raise ConfigError(f"unknown prompt wrapper {spec!r}: use one of {', '.join(PRESETS)} "
                      "or a template containing {question}")
