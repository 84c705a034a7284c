"""Running a guard model: loaded with transformers (``hf:``) or served behind an OpenAI-compatible API
(``openai:URL#MODEL``, e.g. vLLM, which applies the checkpoint's own chat template server-side).

Both take a :class:`~safevlm.judges.guards.formats.GuardItem` and give the model's raw reply (a
classifier: its per-policy yes/no probabilities); the format parses it. Greedy decoding, one
conversation at a time: a guard's verdict must not depend on what else is in its batch.
"""

from __future__ import annotations

from typing import Any

from safevlm.errors import ConfigError
from safevlm.judges.guards.formats import GuardFormat, GuardItem


def with_system(messages: list[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    """``messages`` with the system turn's text replaced by ``system_prompt`` (None: unchanged)."""
    if system_prompt is None:
        return messages
    rest = [m for m in messages if m["role"] != "system"]
    return [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}, *rest]


class HFRunner:
    """A guard checkpoint in this process (a folder, a Hub id in the local cache, or loaded objects)."""

    def __init__(self, fmt: GuardFormat, spec: str | None = None, *, model: Any = None, processor: Any = None,
                 device: str = "auto", dtype: Any = "auto", template_kwargs: dict[str, Any] | None = None,
                 generate_kwargs: dict[str, Any] | None = None, max_new_tokens: int | None = None,
                 system_prompt: str | None = None):
        self.fmt = fmt
        if model is None:
            if not spec:
                raise ConfigError(f"{fmt.name}: give a checkpoint (hf:PATH_OR_ID) or a loaded model and processor")
            model, processor = load_guard(fmt, spec, device, dtype)
        elif processor is None:
            raise TypeError("a loaded guard model needs its processor (or tokenizer) too")
        self.spec = spec or type(model).__name__
        self.model, self.processor = model.eval(), processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.template_kwargs = dict(template_kwargs or {})
        self.generate_kwargs = dict(generate_kwargs or {})
        self.max_new_tokens = int(max_new_tokens or fmt.max_new_tokens)
        self.system_prompt = system_prompt
        self.last_prompt: str | None = None

    def render(self, item: GuardItem) -> str:
        """The exact text the model reads (image placeholders as the processor expands them later)."""
        raw = self.fmt.raw_prompt(item)
        if raw is not None:
            return raw
        messages = with_system(self.fmt.messages(item), self.system_prompt)
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  **self.template_kwargs)

    def reply(self, item: GuardItem) -> str:
        import torch

        text = self.render(item)
        self.last_prompt = text
        images = item.images if self.fmt.max_images is None else item.images[:self.fmt.max_images]
        bos = getattr(self.tokenizer, "bos_token", None)
        special = not (bos and text.startswith(bos))  # a template that writes the BOS itself: not twice
        if images:
            enc = self.processor(text=text, images=images, return_tensors="pt", add_special_tokens=special)
        elif self.processor is self.tokenizer:
            enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=special)
        else:
            enc = self.processor(text=text, return_tensors="pt", add_special_tokens=special)
        device = next(self.model.parameters()).device
        enc = {k: v.to(device) if hasattr(v, "to") else v for k, v in enc.items()}
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id, **self.generate_kwargs)
        return self.tokenizer.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def probabilities(self, images: list[Any], policies: list[str] | None,
                      custom_policies: dict[str, str] | None) -> tuple[list[str], list[tuple[float, float]]]:
        """A classifier (ShieldGemma 2): per policy, (P(Yes), P(No)) for one image."""
        import torch

        kwargs: dict[str, Any] = {}
        if policies:
            kwargs["policies"] = list(policies)
        if custom_policies:
            kwargs["custom_policies"] = dict(custom_policies)
        names = list(policies or {**self.processor.policy_definitions, **(custom_policies or {})})
        enc = self.processor(images=images[:1], return_tensors="pt", **kwargs)
        device = next(self.model.parameters()).device
        enc = {k: v.to(device) if hasattr(v, "to") else v for k, v in enc.items()}
        with torch.no_grad():
            probs = self.model(**enc).probabilities.float().cpu().tolist()
        return names, [(p[0], p[1]) for p in probs]


class OpenAIRunner:
    """A served guard: chat messages (images as data URLs, the server applying the checkpoint's template), or,
    for a format without a chat template (WildGuard), the raw prompt to the completions endpoint."""

    def __init__(self, fmt: GuardFormat, base_url: str, model: str, *, api_key: str | None = None,
                 timeout_s: float | None = None, max_retries: int | None = None,
                 template_kwargs: dict[str, Any] | None = None,
                 max_new_tokens: int | None = None, system_prompt: str | None = None):
        if fmt.kind != "generate":
            raise ConfigError(f"{fmt.name} is an image classifier (yes/no probabilities), not a chat model: load it "
                              "with hf:PATH_OR_ID")
        from openai import OpenAI

        from safevlm.config import remote_defaults

        default_timeout, default_retries = remote_defaults()  # as every remote backend (--request-timeout, --retries)
        timeout_s = default_timeout if timeout_s is None else float(timeout_s)
        max_retries = default_retries if max_retries is None else int(max_retries)
        self.fmt = fmt
        self.spec = f"openai:{base_url}#{model}"
        self.model = model
        self.client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=max_retries)
        self.template_kwargs = dict(template_kwargs or {})
        self.max_new_tokens = int(max_new_tokens or fmt.max_new_tokens)
        self.system_prompt = system_prompt
        self.last_prompt: str | None = None

    def reply(self, item: GuardItem) -> str:
        from safevlm.backends.openai_compat import image_data_url

        raw = self.fmt.raw_prompt(item)
        if raw is not None:
            self.last_prompt = raw
            resp = self.client.completions.create(model=self.model, prompt=raw, max_tokens=self.max_new_tokens,
                                                  temperature=0.0)
            return resp.choices[0].text or ""
        images = iter(item.images if self.fmt.max_images is None else item.images[:self.fmt.max_images])
        messages = []
        for m in with_system(self.fmt.messages(item), self.system_prompt):
            parts = []
            for part in m["content"]:
                if part["type"] == "image":
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(next(images))}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            text_only = all(p["type"] == "text" for p in parts)
            messages.append({"role": m["role"],
                             "content": "".join(p["text"] for p in parts) if text_only else parts})
        extra = {"chat_template_kwargs": self.template_kwargs} if self.template_kwargs else None
        resp = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.0,
                                                   max_tokens=self.max_new_tokens, extra_body=extra)
        return resp.choices[0].message.content or ""


def load_guard(fmt: GuardFormat, spec: str, device: str = "auto", dtype: Any = "auto") -> tuple[Any, Any]:
    """Model and processor of a guard checkpoint; a failure says how the checkpoint is had (gated, licence)."""
    import transformers

    from safevlm.models.loading import ModelNotFoundError, resolve_device, resolve_dtype

    dev = resolve_device(device)
    try:
        cls = getattr(transformers, fmt.model_class)
        if fmt.max_images == 0:
            processor = transformers.AutoTokenizer.from_pretrained(spec)
        else:
            processor = transformers.AutoProcessor.from_pretrained(spec)
        model = cls.from_pretrained(spec, dtype=resolve_dtype(dtype, dev))
    except (OSError, ValueError, ImportError) as exc:
        raise ModelNotFoundError(
            f"{fmt.name}: cannot load {spec!r} ({type(exc).__name__}: {exc}). {fmt.title}: "
            f"{', '.join(fmt.checkpoints)} are {fmt.access}.") from exc
    return model.to(dev), processor
