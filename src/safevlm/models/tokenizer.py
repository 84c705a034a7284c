"""Byte-level BPE tokenizers trained offline from a small corpus.

There is no Hub access on the machines safevlm is built on, so the tiny VLMs get a
tokenizer trained here (docs/models.md, "Tiny models offline"). Byte-level BPE starts
from all 256 byte symbols, so any text (any language, any emoji) still encodes;
the corpus only decides which merges exist. The model's special tokens are added
first so their ids are small and stable (0, 1, 2, ...).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import Any

# Enough English to give a few hundred useful merges when the caller has no corpus.
DEFAULT_CORPUS: list[str] = [
    "I'm sorry, but I can't help with that. It could cause harm.",
    "Sure, here is a helpful answer. The image shows a red car parked on a street.",
    "The picture contains a cat, a dog, a knife, a bottle and a person holding a sign.",
    "Is this safe? How do I make it? What is written in the image? Please describe it.",
    "This request is dangerous and illegal; I will not provide instructions for weapons or drugs.",
    "Yes. No. Safe. Unsafe. The answer is A, B, C or D. Step 1, step 2, step 3.",
    string.printable,
]


def train_bpe_tokenizer(special_tokens: Sequence[str], corpus: Iterable[str] | None = None, *,
                        vocab_size: int = 1024, repeat: int = 20, add_bos: bool = False, **named_tokens: Any):
    """Train a byte-level BPE and wrap it as a transformers fast tokenizer.

    Args:
        special_tokens: added first, in order (ids 0..n-1); never split by BPE.
        corpus: training texts (default: :data:`DEFAULT_CORPUS`).
        vocab_size: an upper bound; a small corpus runs out of merges first
            (docs/models.md, "Pitfalls"), so size embeddings with ``len(tokenizer)``.
        repeat: how often the corpus is repeated (merge counts need repeats to pass
            the trainer's frequency threshold on a tiny corpus).
        add_bos: prepend ``bos_token`` when encoding with special tokens, as the Llama,
            Mistral and Gemma tokenizers do (a template that leaves the BOS to the tokenizer
            then gets it at inference, where the processor adds special tokens, and not in
            TRL's training batches, which it tokenizes without them; docs/models.md, "Pitfalls").
        named_tokens: ``eos_token=...``, ``pad_token=...``, ``bos_token=...``, and
            ``extra_special_tokens={"image_token": ...}`` for the named tokens a processor reads.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(corpus) if corpus is not None else list(DEFAULT_CORPUS)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts * max(1, repeat), trainer)
    if add_bos:
        bos = named_tokens["bos_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named_tokens)
