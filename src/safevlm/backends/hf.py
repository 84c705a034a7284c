"""Hugging Face transformers backend: batched ``model.generate`` on any VLM checkpoint.

Choices and the pitfalls behind them (docs/models.md, "Pitfalls"):

- Left padding, so every row's new tokens start at the same column and a sample
  gives the same greedy output alone or in a batch.
- The vision special tokens (``<|image_pad|>``, ``<image>``...) are suppressed: a
  weak model can sample them, and the next forward pass then fails with "Image
  features and image tokens do not match" (pitfall 5).
- The chat template is applied with ``sanitize_control_tokens=True``, so a user
  text containing ``<|im_end|>`` or ``<|image_pad|>`` is encoded as plain text
  and can neither forge turns nor break the image-token count.
- Images can be downscaled before the processor (``max_image_side``): the default
  Qwen resolution cap gives ~1000 image tokens for a photo (§2, "Image preprocessing").
- What differs by family (vision tokens, whether a system turn may sit beside an image,
  whether text-only and image chats may share a batch) comes from the family registry,
  :mod:`safevlm.models.families`; a model of an unknown family is an error.
- :meth:`HFBackend.generate_interruptible` polls a stop function once per token (a
  transformers ``StoppingCriteria``), so a server can free the model as soon as every
  client of a batch has left; :meth:`HFBackend.count_prompt_tokens` lets it refuse a
  prompt longer than the context window (``max_position_embeddings``) before generating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from PIL import Image

from safevlm.backends.base import (
    Backend,
    Generation,
    GenerationParams,
    ProgressFn,
    StopFn,
    batched,
    sample_messages,
)
from safevlm.data.sample import Sample
from safevlm.errors import DataError
from safevlm.models.families import get_family, vision_token_ids

log = logging.getLogger(__name__)


class HFBackend(Backend):
    """Generate with a transformers image-text-to-text model.

    Args:
        model: a checkpoint path / cached Hub id, or an already built model (then
            ``processor`` is required), e.g. from :func:`safevlm.models.build_tiny_vlm`.
        processor: the model's processor when ``model`` is an object.
        dtype / device: see :func:`safevlm.models.load_vlm`.
        batch_size: samples per ``generate`` call.
        max_image_side: downscale images so neither side exceeds this (None: as given).
        suppress_vision_tokens: never generate the vision special tokens.
        name: shown in reports (default: the path).
    """

    def __init__(self, model: Any, processor: Any = None, *, dtype: str | Any = "auto", device: str = "auto",
                 batch_size: int = 8, max_image_side: int | None = None, suppress_vision_tokens: bool = True,
                 name: str | None = None):
        from safevlm.models.loading import load_vlm

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.name = name or f"hf:{model}"
            self.model, self.processor = load_vlm(model, dtype=dtype, device=device)
        else:
            if processor is None:
                raise TypeError("HFBackend(model_object) needs the processor too")
            self.name = name or f"hf:{type(model).__name__}"
            self.model, self.processor = model, processor
            self.processor.tokenizer.padding_side = "left"
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.max_image_side = max_image_side
        self.tokenizer = self.processor.tokenizer
        self.family = get_family(self.model.config)
        self.suppress_tokens = (vision_token_ids(self.family, self.tokenizer, self.processor, self.model.config)
                                if suppress_vision_tokens else [])
        gen_eos = self.model.generation_config.eos_token_id
        eos = gen_eos if gen_eos is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
        self.pad_id = (self.model.generation_config.pad_token_id if self.model.generation_config.pad_token_id
                       is not None else self.tokenizer.pad_token_id)
        self.chat_template = self._template_with_bos()
        text_config = getattr(self.model.config, "text_config", None) or self.model.config
        context = getattr(text_config, "max_position_embeddings", None)
        self.context_length = context if isinstance(context, int) and context > 0 else None

    def _template_with_bos(self) -> str | None:
        """The processor's template with the BOS written out, where the tokenizer adds a BOS the
        template leaves out (LLaVA-NeXT's): encoding with ``sanitize_control_tokens`` needs every
        special token in the template, and the ids are those the processor would give."""
        tok, template = self.tokenizer, self.processor.chat_template
        if not isinstance(template, str) or tok.bos_token is None or tok("x")["input_ids"][:1] != [tok.bos_token_id]:
            return None
        probe = self.processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "x"}]}],
                                                   add_generation_prompt=True, tokenize=False)
        return None if probe.startswith(tok.bos_token) else "{{ bos_token }}" + template

    # -- inputs -------------------------------------------------------------------------------

    def _images(self, sample: Sample) -> list[Image.Image]:
        images = sample.load_images()
        if self.max_image_side:
            for im in images:
                im.thumbnail((self.max_image_side, self.max_image_side))  # in place, keeps aspect ratio
        return images

    def _messages(self, sample: Sample) -> list[dict[str, Any]]:
        """The sample's chat; for a family whose template rejects a system turn beside an image
        (Llama 3.2 Vision), the system text opens the user turn instead."""
        messages = sample_messages(sample, self._images(sample))
        system, user = messages[0], messages[-1]
        if self.family.system_with_images or system["role"] != "system" or not any(
                part["type"] == "image" for part in user["content"]):
            return messages
        text = next(part for part in user["content"] if part["type"] == "text")
        text["text"] = f"{system['content'][0]['text']}\n\n{text['text']}"
        return [user]

    def _tokenize(self, conversations: list[list[dict[str, Any]]]):
        return self.processor.apply_chat_template(
            conversations, chat_template=self.chat_template, add_generation_prompt=True, tokenize=True,
            return_dict=True, return_tensors="pt", sanitize_control_tokens=True, processor_kwargs={"padding": True})

    def _encode(self, conversations: list[list[dict[str, Any]]]):
        # floating tensors (pixel values) follow the model's dtype; token ids stay integers
        return self._tokenize(conversations).to(self.model.device, dtype=self.model.dtype)

    # -- generation ---------------------------------------------------------------------------

    def _gen_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "pad_token_id": self.pad_id,
                              "do_sample": not params.greedy}
        if params.greedy:  # neutralise sampling settings a checkpoint's generation_config may carry
            kw.update(temperature=None, top_p=None, top_k=None)
        else:
            kw.update(temperature=params.temperature, top_p=params.top_p, top_k=None)
        if self.suppress_tokens:
            kw["suppress_tokens"] = self.suppress_tokens
        return kw

    def count_prompt_tokens(self, samples: Sequence[Sample]) -> list[int] | None:
        """Exact prompt lengths (chat template, image tokens included): one processor call for all."""
        out, ready = [0] * len(samples), []
        for i, sample in enumerate(samples):
            try:
                ready.append((i, self._messages(sample)))
            except DataError:
                continue  # 0: generate() reports the unreadable image as that sample's failure
        if ready:
            lengths = self._tokenize([conv for _, conv in ready])["attention_mask"].sum(dim=1).tolist()
            for (i, _), n in zip(ready, lengths, strict=True):
                out[i] = int(n)
        return out

    def generate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                 progress: ProgressFn | None = None) -> list[Generation]:
        return self._generate(samples, params or GenerationParams(), progress, None)

    def generate_interruptible(self, samples: Sequence[Sample], params: GenerationParams,
                               should_stop: StopFn) -> list[Generation]:
        return self._generate(samples, params, None, should_stop)

    def _generate(self, samples: Sequence[Sample], params: GenerationParams, progress: ProgressFn | None,
                  should_stop: StopFn | None) -> list[Generation]:
        import torch

        if params.seed is not None:
            torch.manual_seed(params.seed)
        kwargs = self._gen_kwargs(params)
        if should_stop is not None:
            kwargs["stopping_criteria"] = _stopping_criteria(should_stop)
        results: list[Generation | None] = [None] * len(samples)
        for chunk in self._chunks(samples):
            if should_stop is not None and should_stop():
                for i in chunk:
                    results[i] = Generation.failed("stopped before generation (should_stop)")
                continue
            t0 = time.perf_counter()
            ready: list[tuple[int, list[dict[str, Any]]]] = []
            for i in chunk:
                try:
                    ready.append((i, self._messages(samples[i])))
                except DataError as exc:  # an unreadable image fails that sample, not the batch
                    results[i] = Generation.failed(str(exc))
            if ready:
                inputs = self._encode([conv for _, conv in ready])
                with torch.inference_mode():
                    out = self.model.generate(**inputs, **kwargs)
                new = out[:, inputs["input_ids"].shape[1]:].tolist()
                prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
                latency = time.perf_counter() - t0
                for (i, _), row, n_prompt in zip(ready, new, prompt_lens):
                    results[i] = self._decode(row, int(n_prompt), latency)
            if progress:
                progress(len(chunk))
        return [r for r in results if r is not None]

    def _chunks(self, samples: Sequence[Sample]) -> list[Sequence[int]]:
        """Batches of sample indices. Families whose text-only chats answer differently beside
        image chats (Mllama: text rows attend to padded images) batch the two apart."""
        order = list(range(len(samples)))
        if self.family.batch_text_with_images:
            return batched(order, self.batch_size)
        with_images = [i for i in order if samples[i].images]
        text_only = [i for i in order if not samples[i].images]
        return batched(with_images, self.batch_size) + batched(text_only, self.batch_size)

    def _decode(self, row: list[int], prompt_tokens: int, latency: float) -> Generation:
        """Cut the row after the first end-of-sequence token (the rest is padding)."""
        end = next((k + 1 for k, t in enumerate(row) if t in self.eos_ids), None)
        tokens = row[:end] if end is not None else row
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return Generation(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(tokens), latency_s=latency,
                          finish_reason="stop" if end is not None else "length")

    def close(self) -> None:
        self.model = None
        self.processor = None


def _stopping_criteria(should_stop: StopFn):
    """A transformers ``StoppingCriteriaList`` that ends every row once ``should_stop()`` is true."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopWhen(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), bool(should_stop()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopWhen()])
