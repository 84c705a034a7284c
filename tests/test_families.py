"""Every supported family through ``hf:``: chat templates, SFT answer-only masking, LoRA on the
language model only, full fine-tuning, merge and reload with plain transformers, image caps,
generation prompts, a GRPO step with the reflective rollout, and the error for an unknown
family (docs/models.md, "Families").

Tests taking ``tiny_family`` (conftest) run once per family on a tiny model built once per
session.
"""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from safevlm import Sample
from safevlm.backends.hf import HFBackend
from safevlm.errors import ConfigError
from safevlm.models import load_vlm
from safevlm.models.families import (
    FAMILIES,
    UnsupportedFamilyError,
    cap_images,
    chat_template,
    get_family,
    lora_target_modules,
    vision_token_ids,
)
from safevlm.models.families import load_processor as family_processor
from safevlm.train.base import load_for_training
from safevlm.train.chat_templates import check_training_template
from safevlm.train.sft import build_trainer, merge_adapter, run_sft
from safevlm.train.sft_settings import resolve_sft_settings

#: what the supervised span decodes to around the answer, by family: the end-of-turn token(s) the
#: model writes, the newline TRL's Qwen/SmolVLM/Gemma training templates put inside the span, and
#: the space LLaVA's and SmolVLM's "ASSISTANT:" / "Assistant:" cue leaves to the answer
SPAN = {
    "qwen2_vl": ("", "<|im_end|>\n"), "qwen2_5_vl": ("", "<|im_end|>\n"), "qwen3_vl": ("", "<|im_end|>\n"),
    "smolvlm": (" ", "<end_of_utterance>\n"), "llava": (" ", "</s>"), "llava_next": (" ", "</s>"),
    "mllama": ("", "<|eot_id|>"), "gemma3": ("", "<end_of_turn>\n"), "internvl": ("", "<|im_end|>"),
    "pixtral": ("", "</s>"),
}


def _cpu(**over):
    return resolve_sft_settings("cpu", overrides={"per_device_train_batch_size": 2, "save_steps": 1000,
                                                  "logging_steps": 1, "warmup_ratio": 0.0, **over})


def _image_chat(text: str = "What is it?"):
    return [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (56, 56), (200, 30, 30))},
                                         {"type": "text", "text": text}]}]


def test_every_family_has_a_builder_templates_and_a_training_variant():
    from typing import get_args

    from trl.chat_template_utils import has_generation_markers

    from safevlm.models.tiny import Arch

    assert set(get_args(Arch)) == set(FAMILIES)
    for family in FAMILIES.values():
        assert has_generation_markers(chat_template(family.training_template))
        assert not has_generation_markers(chat_template(family.template))  # as the checkpoints' own


def test_training_template_renders_what_inference_renders(tiny_family):
    """Multi-turn chat, then a new prompt: the training variant encodes exactly as the inference template
    (with the tokenizer's own special tokens) does; TRL's training batches add none."""
    family = FAMILIES[tiny_family.family]
    proc = tiny_family.processor
    chat = _image_chat() + [{"role": "assistant", "content": [{"type": "text", "text": "A red square."}]},
                            {"role": "user", "content": [{"type": "text", "text": "Is it safe?"}]}]

    def ids(template, **kw):
        return proc.apply_chat_template(chat, chat_template=template, add_generation_prompt=True, tokenize=True,
                                        return_dict=True, return_tensors="pt", **kw)["input_ids"].tolist()

    assert ids(chat_template(family.template)) == ids(chat_template(family.training_template),
                                                      processor_kwargs={"add_special_tokens": False})
    assert check_training_template(proc, chat_template(family.training_template)) is None


def test_sft_supervises_exactly_the_answer_and_its_end_of_turn(tiny_family, sft_rows, tmp_path):
    from datasets import Dataset

    model = tiny_family.model
    processor = family_processor(tiny_family.path, tiny_family.family)  # build_trainer sets its template
    rows = sft_rows(2)
    trainer = build_trainer(model, processor, Dataset.from_list(rows), _cpu(), tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    labels, ids = batch["labels"], batch["input_ids"]
    tok = processor.tokenizer
    before, after = SPAN[tiny_family.family]
    for i, row in enumerate(rows):
        supervised = ids[i][labels[i] != -100].tolist()
        answer = row["messages"][-1]["content"][0]["text"]
        assert supervised == tok(before + answer + after, add_special_tokens=False)["input_ids"], tok.decode(supervised)
    assert (labels[batch["attention_mask"] == 0] == -100).all()  # padding (the short answer's row has some)
    assert (batch["attention_mask"] == 0).any()
    vision = torch.tensor(vision_token_ids(FAMILIES[tiny_family.family], tok, processor, model.config))
    assert (torch.isin(ids, vision) & (labels == -100)).any()  # the images are in the input
    assert not torch.isin(ids[labels != -100], vision).any()  # and never supervised
    if tiny_family.family == "mllama":  # the answer tokens attend to the image through cross-attention
        answer_rows = batch["cross_attention_mask"][labels != -100]
        assert answer_rows.shape[0] > 0 and (answer_rows.sum(dim=(-1, -2)) > 0).all()
    with torch.no_grad():
        assert torch.isfinite(model(**batch).loss)  # the batch fits the model (image features match tokens)


def test_lora_adapts_the_language_model_only_merges_and_reloads(tiny_family, chat_set, tmp_path):
    """The authors' Qwen recipe: LoRA on the language model's projections; merge; plain transformers
    reloads the merged checkpoint with the adapter's logits."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    family = FAMILIES[tiny_family.family]
    rec = run_sft(f"hf:{tiny_family.path}", chat_set(tmp_path / "data", 4), tmp_path / "lora",
                  _cpu(mode="lora", lora_r=4, lora_alpha=8, max_steps=2, learning_rate=1e-2))
    adapter = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == lora_target_modules(family)
    base = load_vlm(tiny_family.path, dtype="float32")[0]
    peft = PeftModel.from_pretrained(base, str(tmp_path / "lora")).eval()
    adapted = {n.split(".lora_A")[0].removeprefix("base_model.model.")
               for n, _ in peft.named_parameters() if ".lora_A." in n}
    text = tiny_family.model.config.get_text_config()
    projections = len(family.lora_targets) * text.num_hidden_layers  # Mllama's cross-attention layers too
    assert len(adapted) == projections and all(n.startswith(family.language_model + ".") for n in adapted)
    assert {n.rsplit(".", 1)[1] for n in adapted} == set(family.lora_targets)
    assert rec["trainable_parameters"] < 0.5 * rec["parameters"]
    assert any(not torch.equal(p, torch.zeros_like(p)) for n, p in peft.named_parameters() if "lora_B" in n)

    merged = merge_adapter(tmp_path / "lora", tmp_path / "merged")
    plain = AutoModelForImageTextToText.from_pretrained(merged).eval()
    assert type(plain) is type(tiny_family.model)
    changed = [n for (n, a), (_, b) in zip(tiny_family.model.named_parameters(), plain.named_parameters())
               if not torch.equal(a, b)]
    assert changed and all(n.startswith(family.language_model + ".") for n in changed)
    inputs = tiny_family.processor.apply_chat_template(_image_chat(), add_generation_prompt=True, tokenize=True,
                                                       return_dict=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(peft(**inputs).logits, plain(**inputs).logits, atol=1e-4)


#: where each family's projector (vision features -> language model) sits
PROJECTOR = {"qwen2_vl": "model.visual.merger.", "qwen2_5_vl": "model.visual.merger.",
             "qwen3_vl": "model.visual.merger.", "smolvlm": "model.connector."}


def test_full_fine_tuning_trains_every_part(tiny_family, chat_set, tmp_path):
    """The authors' Llama recipe: full fine-tuning moves the language model, the projector and the
    vision tower (Mllama's through its cross-attention)."""
    run_sft(f"hf:{tiny_family.path}", chat_set(tmp_path / "data", 4), tmp_path / "full",
            _cpu(mode="full", max_steps=2, learning_rate=1e-2))
    before = dict(tiny_family.model.named_parameters())  # the weights saved at tiny_family.path
    after = dict(load_vlm(tmp_path / "full", dtype="float32")[0].named_parameters())
    assert before.keys() == after.keys()
    moved = {n for n in before if not torch.equal(before[n], after[n])}
    language = FAMILIES[tiny_family.family].language_model + "."
    projector = PROJECTOR.get(tiny_family.family, "model.multi_modal_projector.")
    tower = [n for n in before if not n.startswith((language, projector, "lm_head"))]
    assert tower and any(n.startswith(language) for n in moved) and any(n.startswith(projector) for n in moved)
    assert any(n in moved for n in tower)


#: max_pixels per family for the cap test, and whether the tiny processor has room to lower
CAP = {"qwen2_vl": (56 * 56, True), "qwen2_5_vl": (56 * 56, True), "qwen3_vl": (64 * 64, True),
       "smolvlm": (56 * 56, False),  # one 112-px crop, no splitting: nothing to lower
       "llava": (28 * 28, False), "gemma3": (28 * 28, False),  # one fixed size
       "llava_next": (56 * 56, True),  # only the smallest any-resolution grid is left
       "mllama": (28 * 28, True),  # one 28-px tile instead of two
       "internvl": (56 * 56, True),  # one 56-px crop instead of two plus a thumbnail
       "pixtral": (32 * 32, True)}  # longest side 32 instead of 64


def _pixels(image_processor) -> int:
    """Vision input of a wide and a square photo, in pixel-tensor elements."""
    images = [Image.new("RGB", (200, 100), (10, 200, 30)), Image.new("RGB", (200, 200), (10, 20, 230))]
    return sum(image_processor(images=[im], return_tensors="pt")["pixel_values"].numel() for im in images)


def test_image_caps_follow_the_family(tiny_family):
    """``max_pixels`` lowers the vision input of large images by the family's rule, never raises it;
    training loads the processor capped (``load_for_training``)."""
    max_pixels, lowers = CAP[tiny_family.family]
    fresh = family_processor(tiny_family.path, tiny_family.family)
    before = _pixels(fresh.image_processor)
    cap_images(FAMILIES[tiny_family.family], fresh.image_processor, max_pixels)
    after = _pixels(fresh.image_processor)
    assert after < before if lowers else after == before
    _, proc = load_for_training(f"hf:{tiny_family.path}", _cpu(max_pixels=max_pixels))
    assert _pixels(proc.image_processor) == after


def test_generation_encodes_prompts_as_the_processor_does(tiny_family):
    """The backend's sanitized encoding gives the processor's own ids for ordinary text (LLaVA-NeXT's
    template leaves the BOS to the tokenizer: the backend writes it out)."""
    backend = HFBackend(tiny_family.model, tiny_family.processor)
    sample = Sample(id="a", source="t", text="Is this safe?", images=[Image.new("RGB", (56, 56))], expected="comply")
    ours = backend._encode([backend._messages(sample)])["input_ids"].tolist()
    plain = tiny_family.processor.apply_chat_template([backend._messages(sample)], add_generation_prompt=True,
                                                      tokenize=True, return_dict=True, return_tensors="pt")
    assert ours == plain["input_ids"].tolist()
    tok = tiny_family.processor.tokenizer
    if tok("x")["input_ids"][:1] == [tok.bos_token_id]:
        assert ours[0][0] == tok.bos_token_id


def test_system_prompt_beside_an_image_is_folded_where_the_template_forbids_it(tiny_vlms):
    sample = Sample(id="s", source="t", text="What is it?", images=[Image.new("RGB", (56, 56))], expected="comply",
                    metadata={"system_prompt": "Be careful."})
    mllama = HFBackend(tiny_vlms("mllama").model, tiny_vlms("mllama").processor)
    (user,) = mllama._messages(sample)
    assert user["role"] == "user" and user["content"][-1]["text"] == "Be careful.\n\nWhat is it?"
    assert mllama.generate([sample])[0].error is None
    with pytest.raises(Exception, match="incompatible with system messages"):  # the real template's rule
        tiny_vlms("mllama").processor.apply_chat_template([{"role": "system", "content": "x"}] + _image_chat())
    qwen = HFBackend(tiny_vlms("qwen2_5_vl").model, tiny_vlms("qwen2_5_vl").processor)
    assert [m["role"] for m in qwen._messages(sample)] == ["system", "user"]


def test_unknown_family_fails_naming_the_supported_ones(tmp_path):
    from transformers import Idefics3Config

    Idefics3Config().save_pretrained(tmp_path)
    with pytest.raises(UnsupportedFamilyError, match=r"'idefics3' is not a supported.*qwen2_vl.*pixtral.*Adding a family"):
        load_vlm(tmp_path)
    assert not (tmp_path / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="supported: qwen2_vl"):
        get_family("paligemma")
    with pytest.raises(ConfigError, match=f"{tmp_path}.*'idefics3'"):
        family_processor(tmp_path, Idefics3Config())


def test_a_template_that_supervises_the_wrong_tokens_is_refused(tiny_vlms, sft_rows, tmp_path):
    """A checkpoint template whose markers leave out the end-of-turn token (llava-hf's LLaVA-1.5 does) is
    replaced by the family's; a user template that cannot keep the prompt is an error before training."""
    from datasets import Dataset

    tiny = tiny_vlms("llava")
    processor = family_processor(tiny.path, "llava")
    no_eos = chat_template("llava_training").replace("{{- eos_token -}}\n        {%- endgeneration -%}",
                                                     "{%- endgeneration -%}")
    assert check_training_template(processor, no_eos).endswith("do not end with an end-of-turn token")
    processor.chat_template = no_eos
    build_trainer(tiny.model, processor, Dataset.from_list(sft_rows(2)), _cpu(), tmp_path)
    assert processor.chat_template == chat_template("llava_training")
    wrong = tmp_path / "wrong.jinja"
    wrong.write_text(chat_template("llava_training").replace("'USER: '", "'HUMAN: '"))
    with pytest.raises(ConfigError, match="wrong.jinja: its prompt encodes differently"):
        build_trainer(tiny.model, family_processor(tiny.path, "llava"), Dataset.from_list(sft_rows(2)),
                      _cpu(chat_template_path=str(wrong)), tmp_path)


class _Flagging:
    """Every policy sample flagged unsafe (rewards by length, for variance); every correction accepted."""

    name = "flagging"

    def __init__(self):
        self.calls = 0

    def score(self, samples, responses, *, truncated=None):
        from safevlm.rewards import RewardScore

        self.calls += 1
        if self.calls % 3 == 2:  # the corrections (policy samples, corrections, TRL's final scoring)
            return [RewardScore(overall=1.0) for _ in responses]
        return [RewardScore(overall=(len(r) % 4) / 4, unsafe=True) for r in responses]


def test_grpo_step_with_the_reflective_rollout(tiny_family, tmp_path):
    """One GRPO step through ``safevlm train grpo``'s code path with SaFeR-VLM's rollout: TRL accepts
    the rollout's prompt tokenisation and completions for the family, and the language model moves."""
    from safevlm.data.jsonl import write_samples
    from safevlm.methods.safer.rollout import reflective_rollout
    from safevlm.methods.safer.settings import resolve_safer_settings
    from safevlm.train.grpo import run_grpo

    samples = []
    for i in range(2):
        Image.new("RGB", (56, 56), [(200, 30, 30), (30, 30, 200)][i]).save(tmp_path / f"{i}.png")
        samples.append(Sample(id=str(i), source="t", text=f"What is in image {i}?", images=[str(tmp_path / f"{i}.png")],
                              expected="refuse"))
    write_samples(samples, tmp_path / "prompts.jsonl")
    settings = resolve_safer_settings("cpu", rollout="reflective", overrides={
        "num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 5, "max_steps": 1,
        "save_steps": 1000, "beta": 0.0, "learning_rate": 1e-2, "temperature": 1.5})
    reason = FAMILIES[tiny_family.family].grpo_unsupported
    if reason:  # refused before the weights load, saying why (TRL's limitation, not ours to patch)
        with pytest.raises(ConfigError, match="GRPO cannot train"):
            run_grpo(f"hf:{tiny_family.path}", tmp_path / "prompts.jsonl", tmp_path / "out", settings,
                     rollout=reflective_rollout, scorer=_Flagging())
        return
    record = run_grpo(f"hf:{tiny_family.path}", tmp_path / "prompts.jsonl", tmp_path / "out", settings,
                      rollout=reflective_rollout, scorer=_Flagging())
    assert record["global_steps"] == 1 and record["history"][0]["reflect/corrected"] == 1.0
    after = dict(load_vlm(tmp_path / "out", dtype="float32")[0].named_parameters())
    language = FAMILIES[tiny_family.family].language_model + "."
    assert any(not torch.equal(p, after[n]) for n, p in tiny_family.model.named_parameters() if n.startswith(language))
