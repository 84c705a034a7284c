"""verl for real: verl's own dataset class reads `safevlm safer export`'s parquet with a tiny Qwen2.5-VL
processor, and verl's reward managers call the exported reward function (CPU, no rollout).

verl 0.9.1 pins transformers < 5.11 and safevlm needs >= 5.18, so this test runs in its own environment:
``make test-verl`` builds ``.venv-verl`` (verl with its pins, safevlm without its dependencies) and runs
this file there (docs/methods.md, "SaFeR-VLM: implementation choices"); ``.ci/run`` does the same.
Everywhere else it is skipped with that reason.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

if os.environ.get("SAFEVLM_REQUIRE_VERL"):  # `make test-verl`: a missing verl is a failure, not a skip
    import verl  # noqa: F401
pytest.importorskip("verl", reason="verl is not installed in this environment: `make test-verl` runs this test in "
                                   "its own venv (.venv-verl), since verl 0.9.1 pins transformers < 5.11")

import numpy as np
import torch
from omegaconf import OmegaConf

from safevlm.bench import load_benchmark
from safevlm.data.jsonl import write_samples
from safevlm.models.tiny import build_tiny_vlm
from safevlm.rewards.oracle_reward import OracleScorer
from safevlm.methods.safer.export import export


def right(sample) -> str:
    return sample.reference if sample.expected.value == "comply" else sample.metadata["safe_reference"]


def wrong(sample) -> str:
    return "Sorry, I can't help with that." if sample.expected.value == "comply" else sample.reference


@pytest.fixture()
def exported(gymlet, tmp_path):
    spec = gymlet(40)
    pool = [s for s in load_benchmark("gymlet:train", extra_specs=[spec], verify_images=False).samples
            if not s.history and not s.metadata.get("ambiguous")]
    picked = [s for s in pool if s.expected.value == "comply"][:3] + [s for s in pool if s.expected.value != "comply"][:3]
    write_samples(picked, tmp_path / "sel" / "selected.jsonl")
    return picked, export(tmp_path / "sel", tmp_path / "verl")


def test_rlhf_dataset_reads_the_parquet_with_a_qwen2_5_vl_processor(exported, tmp_path):
    """RLHFDataset builds the chat messages with the decoded image; the processor step is what verl's agent
    loop does with them (chat template, then verl's ``build_multimodal_processor_inputs``). verl's length
    filter and agent loop resize images with qwen_vl_utils, which needs torchvision: PyPI has no CPU build of
    it for Linux, so that one step is off here (``filter_overlong_prompts=False``)."""
    from PIL import Image
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    picked, summary = exported
    _, processor = build_tiny_vlm("qwen2_5_vl", image_size=56)
    cfg = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 4096,
                            "filter_overlong_prompts": False, "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(data_files=[summary["parquet"]], tokenizer=processor.tokenizer, config=cfg, processor=processor)
    assert len(ds) == len(picked)
    for k, sample in enumerate(picked):
        row = ds[k]
        user = row["raw_prompt"][-1]
        assert [part["type"] for part in user["content"]] == ["image", "text"]
        assert sample.text in user["content"][1]["text"]
        assert row["data_source"] == f"safevlm/{sample.source}" and row["extra_info"]["uid"] == sample.uid
        image = user["content"][0]["image"]
        assert isinstance(image, Image.Image) and image.size == Image.open(sample.images[0].path).size
    row = ds[0]
    text = processor.apply_chat_template(row["raw_prompt"], add_generation_prompt=True, tokenize=False)
    images = [part["image"].convert("RGB") for part in row["raw_prompt"][-1]["content"] if part["type"] == "image"]
    inputs = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=None, audio=None)
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    want = int(inputs["image_grid_thw"].prod()) // processor.image_processor.merge_size ** 2
    assert want > 0 and int((inputs["input_ids"][0] == pad).sum()) == want
    assert inputs["pixel_values"].shape[0] == int(inputs["image_grid_thw"].prod())


def _batch(tokenizer, rows, responses):
    """A DataProto as verl's rollout hands it to the reward: prompt ids, right-padded responses, masks."""
    from verl import DataProto

    ids = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    width = max(map(len, ids))
    resp = torch.full((len(ids), width), tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros((len(ids), 4 + width), dtype=torch.long)
    for k, x in enumerate(ids):
        resp[k, :len(x)] = torch.tensor(x)
        mask[k, :4 + len(x)] = 1
    return DataProto.from_dict(
        tensors={"prompts": torch.ones((len(ids), 4), dtype=torch.long), "responses": resp, "attention_mask": mask},
        non_tensors={"data_source": np.array([r["data_source"] for r in rows], dtype=object),
                     "reward_model": np.array([dict(r["reward_model"]) for r in rows], dtype=object),
                     "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object)})


def test_verls_reward_managers_call_our_reward_and_get_our_scores(exported):
    import pyarrow.parquet as pq
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.workers.reward_manager import BatchRewardManager

    picked, summary = exported
    _, processor = build_tiny_vlm("qwen2_5_vl", image_size=56)
    tok = processor.tokenizer
    rows = pq.read_table(summary["parquet"]).to_pylist()
    by_uid = {s.uid: s for s in picked}
    samples = [by_uid[r["extra_info"]["uid"]] for r in rows]
    responses = [right(s) for s in samples] + [wrong(s) for s in samples]
    decoded = [tok.decode(tok(r, add_special_tokens=False)["input_ids"], skip_special_tokens=True) for r in responses]
    want = [s.overall for s in OracleScorer().score(samples * 2, decoded)]
    assert len(set(want)) > 1  # right and wrong answers score apart

    # the reward loop's manager (verl 0.9.1's training path): reward.custom_reward_function, one item at a time
    cfg = OmegaConf.create({"reward": {
        "custom_reward_function": {"path": summary["reward_function"], "name": "compute_score", "reward_kwargs": {}},
        "reward_manager": {"source": "register", "name": "naive", "module": {"path": None, "name": None}},
        "reward_model": {"enable": False}}})
    manager = load_reward_manager(cfg, tok)
    data = _batch(tok, rows * 2, responses)
    got = [manager.loop.run_until_complete(manager.run_single(data[k:k + 1])) for k in range(len(data))]
    assert [g["reward_score"] for g in got] == pytest.approx(want)
    assert {"safety", "task", "format"} <= set(got[0]["reward_extra_info"])

    # the batch manager with the batch form
    spec = importlib.util.spec_from_file_location("reward_function", summary["reward_function"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batch = BatchRewardManager(tok, num_examine=0, compute_score=module.compute_score_batch)
    out = batch(_batch(tok, rows * 2, responses), return_dict=True)
    lengths = _batch(tok, rows * 2, responses).batch["attention_mask"][:, 4:].sum(-1)
    placed = [float(out["reward_tensor"][k, n - 1]) for k, n in enumerate(lengths.tolist())]
    assert placed == pytest.approx(want) and float(out["reward_tensor"].sum()) == pytest.approx(sum(want))

    # a reward that cannot score stops verl with the reason, never a 0
    broken = [dict(rows[0], reward_model={"ground_truth": '{"id": "x", "source": "elsewhere", "text": "hi", '
                                                          '"expected": "comply"}'})]
    with pytest.raises(RuntimeError, match="reward failed: oracle: not a gym item"):
        manager.loop.run_until_complete(manager.run_single(_batch(tok, broken, ["hello"])[0:1]))


def test_the_launch_command_export_writes_is_valid_for_verls_own_config(exported):
    """Every key of launch_verl.sh exists in verl 0.9.1's trainer config (hydra refuses unknown ones), and
    the values reach it: the reward function, GRPO, the image column."""
    from pathlib import Path

    import verl
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from safevlm.methods.safer.export import verl_overrides

    _, summary = exported
    out = Path(summary["parquet"]).parent
    overrides = verl_overrides(out.resolve())
    script = (out / "launch_verl.sh").read_text()
    assert all(f"'{o}'" in script for o in overrides) and "python3 -m verl.trainer.main_ppo" in script
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)
    assert cfg.reward.custom_reward_function.path == summary["reward_function"].replace(str(out), str(out.resolve()))
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.data.image_key == "images"
    assert cfg.actor_rollout_ref.rollout.n == 4 and cfg.actor_rollout_ref.actor.kl_loss_type == "low_var_kl"
    GlobalHydra.instance().clear()
    with (initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None),
          pytest.raises(Exception, match="not_a_key")):
        compose(config_name="ppo_trainer", overrides=[*overrides, "reward.not_a_key=1"])
