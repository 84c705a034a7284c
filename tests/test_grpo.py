"""GRPO on TRL: the reflective rollout's ``rollout_func`` contract per architecture, corrections
trained as off-policy samples, weights that change, and data errors before a model loads
(docs/methods.md, "SaFeR-VLM")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from safevlm.data.jsonl import write_samples
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError, DataError
from safevlm.rewards import RewardScore
from safevlm.methods.safer.rollout import ReflectiveRollout
from safevlm.methods.safer.settings import resolve_safer_settings
from safevlm.train.grpo import RewardAdapter, build_trainer, load_prompts, prompt_dataset, run_grpo

G = 2


def _settings(**over):
    base = {"num_generations": G, "per_device_train_batch_size": 4, "max_completion_length": 6, "max_steps": 1,
            "save_steps": 1000, "logging_steps": 1, "beta": 0.0, "learning_rate": 1e-2}
    return resolve_safer_settings("cpu", overrides={**base, **over})  # GRPO's settings and the rollout's


def _prompts(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.new("RGB", (56, 56), ["red", "blue", "green", "white"][i % 4]).save(path)
        samples.append(Sample(id=f"p{i}", source="t", text=f"What is in the image number {i}?", images=[str(path)],
                              expected="refuse" if i % 2 else "comply",
                              metadata={"system_prompt": "Think first."} if i == 0 else {}))
    write_samples(samples, folder / "prompts.jsonl")
    return folder / "prompts.jsonl"


def test_prompts_named_by_a_relative_folder_find_their_images(tmp_path, monkeypatch):
    """The demo names its data relatively (runs/demo/safer/select): the images written beside the prompts are
    found, not looked for under the folder twice (runs/demo/.../runs/demo/.../x.png)."""
    _prompts(tmp_path / "runs" / "select")
    monkeypatch.chdir(tmp_path)
    prompts = load_prompts(Path("runs") / "select" / "prompts.jsonl", None)
    assert [Path(r["image"]) for r in prompts.rows] == [(tmp_path / "runs" / "select" / f"{i}.png").resolve()
                                                        for i in range(2)]


class ScriptedScorer:
    """Policy samples are flagged unsafe with rewards by length; corrections are safe and score 1.

    With the reflective rollout every step calls it three times: the policy's samples, the
    corrections, then TRL's reward function on the final rows (corrections score 1 again).
    Under the plain rollout only the first kind of call happens.
    """

    name = "scripted"

    def __init__(self, reflective: bool = True):
        self.calls, self.reflective, self.corrections = 0, reflective, set()

    def score(self, samples, responses, *, truncated=None):
        phase = ("policy", "correction", "final")[self.calls % 3] if self.reflective else "policy"
        self.calls += 1
        if phase == "correction":
            self.corrections |= set(responses)
        if phase == "correction":
            return [RewardScore(overall=1.0, unsafe=False) for _ in responses]
        return [RewardScore(overall=1.0, unsafe=False) if phase == "final" and r in self.corrections
                else RewardScore(overall=(len(r) % 4) / 4, unsafe=True) for r in responses]


def _trainer(arch: str, tmp_path: Path, scorer, **over):
    from safevlm.models.tiny import build_tiny_vlm

    model, processor = build_tiny_vlm(arch, image_size=56)
    prompts = load_prompts(_prompts(tmp_path / "data"), None)
    eos = {processor.tokenizer.eos_token_id}
    adapter = RewardAdapter(scorer, prompts.samples, eos)
    settings = _settings(rollout="reflective", **over)
    plugin = ReflectiveRollout(prompts, adapter, settings)
    trainer = build_trainer(model, processor, prompt_dataset(prompts), adapter, settings, tmp_path / "out",
                            rollout=plugin)
    return trainer, plugin, prompts, processor


def _batch(trainer):
    """What TRL's repeat sampler hands the trainer: each row G times in a row."""
    return [row for row in trainer.train_dataset for _ in range(G)]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "smolvlm", "qwen3_vl"])
def test_rollout_func_contract(arch, tmp_path):
    from trl.data_utils import prepare_multimodal_messages

    trainer, _plugin, _prompts, processor = _trainer(arch, tmp_path, ScriptedScorer())
    seen = {}
    inner = trainer.rollout_func

    def spy(prompts_in, trainer_in):
        seen["prompts"], seen["out"] = prompts_in, inner(prompts_in, trainer_in)
        return seen["out"]

    trainer.rollout_func = spy
    batch = _batch(trainer)
    trainer.model.eval()
    output = trainer._generate_and_score_completions(batch)
    out = seen["out"]

    # one completion per repeated row, with log-probs per completion token
    assert len(out["prompt_ids"]) == len(out["completion_ids"]) == len(out["logprobs"]) == len(batch)
    assert all(len(lp) == len(ids) for lp, ids in zip(out["logprobs"], out["completion_ids"]))
    # exact prompt tokenisation: what TRL itself would have tokenised (images included)
    own, _, _ = trainer._tokenize_prompts([prepare_multimodal_messages(p) for p in seen["prompts"]])
    assert [list(x) for x in own] == out["prompt_ids"]
    image_ids = {processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<image>")
                 if t in processor.tokenizer.get_vocab()}
    assert all(image_ids & set(ids) for ids in out["prompt_ids"])
    # completions end at the end-of-turn token or at the length limit; no vision tokens sampled
    eos = processor.tokenizer.eos_token_id
    for ids in out["completion_ids"]:
        assert (ids[-1] == eos and eos not in ids[:-1]) or (len(ids) == 6 and eos not in ids)
        assert not image_ids & set(ids)
    # every sample was flagged and every correction accepted by the scripted reward
    assert out["flagged"] == [True] * len(batch) and out["corrected"] == [True] * len(batch)
    # the trainer's masks match the completions
    lengths = [len(ids) for ids in out["completion_ids"]]
    assert output["completion_mask"].sum(1).tolist() == lengths
    assert output["prompt_mask"].sum(1).tolist() == [len(ids) for ids in out["prompt_ids"]]
    # corrections are off-policy: their behaviour log-probs are the PPO "old" log-probs
    old = output["old_per_token_logps"]
    for row, lp in enumerate(out["logprobs"]):
        assert torch.allclose(old[row, :len(lp)], torch.tensor(lp), atol=1e-6)


def test_on_policy_logprobs_equal_the_trainers_recomputation(tmp_path):
    """The log-probs the rollout returns are the policy's own: TRL's forward on the same ids agrees."""

    class NeverFlag:
        name = "never"

        def score(self, samples, responses, *, truncated=None):
            return [RewardScore(overall=(len(r) % 4) / 4) for r in responses]

    trainer, plugin, _, _ = _trainer("qwen2_5_vl", tmp_path, NeverFlag(), temperature=1.0)
    trainer.model.eval()
    output = trainer._generate_and_score_completions(_batch(trainer))
    assert not any(plugin.batch["corrected"])
    ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
    mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
    forward = {k: output[k] for k in ("pixel_values", "image_grid_thw") if k in output}
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, output["completion_ids"].size(1), num_images=output.get("num_images"), **forward)
    m = output["completion_mask"].bool()
    sampled = torch.zeros_like(logps)
    for row, lp in enumerate(plugin.batch["behaviour_logps"]):
        sampled[row, :len(lp)] = torch.tensor(lp)
    assert m.sum() > 0 and torch.allclose(logps[m], sampled[m], atol=2e-3)


def test_corrections_get_capped_advantages_against_the_on_policy_baseline(tmp_path):
    trainer, plugin, _, _ = _trainer("qwen2_5_vl", tmp_path, ScriptedScorer(), **{"reflection.advantage_cap": 0.5})
    trainer.model.eval()
    output = trainer._generate_and_score_completions(_batch(trainer))
    original = plugin.batch["original_reward"]
    adv = output["advantages"].tolist()
    for g in range(0, len(original), G):
        group = original[g:g + G]
        mean = sum(group) / G
        std = (sum((x - mean) ** 2 for x in group) / (G - 1)) ** 0.5
        for k in range(g, g + G):
            assert adv[k] == pytest.approx(min((1.0 - mean) / (std + 1e-4), 0.5), abs=1e-5)


class JudgedByText:
    """A reward that reads only the response and its item, never the call order, so it holds whatever the
    rollout's phases: a ``comply`` item's response gets a reward by its text and is never flagged; a
    ``refuse`` item's is safe and verified (1.0), safe but poor (0.5, under ``reflection.accept``) or unsafe
    (0.0 / 0.25), by its text's CRC. So some corrections pass the reward and some do not."""

    name = "judged-by-text"

    def __init__(self):
        self.seen: dict[str, RewardScore] = {}

    def verdict(self, sample, text: str) -> RewardScore:
        import zlib

        h = zlib.crc32(f"{sample.uid}|{text}".encode())
        if sample.expected.value == "comply":
            return RewardScore(overall=(h % 5) / 4)
        return {0: RewardScore(overall=1.0), 1: RewardScore(overall=0.5)}.get(
            h % 4, RewardScore(overall=(h % 2) / 4, unsafe=True))

    def score(self, samples, responses, *, truncated=None):
        out = [self.verdict(s, r) for s, r in zip(samples, responses)]
        self.seen.update({f"{s.uid}|{r}": v for s, r, v in zip(samples, responses, out)})
        return out


def _mixed_step(tmp_path: Path, **over):
    """One reflective step on 8 prompts (4 comply, 4 refuse) x G=4 with :class:`JudgedByText`: on-policy
    rows, rejected corrections and kept ones in one batch. Returns (rollout output, trainer output, trainer,
    plugin, final texts, verdicts of the final texts)."""
    from safevlm.models.tiny import build_tiny_vlm

    g = 4
    model, processor = build_tiny_vlm("qwen2_5_vl", image_size=56)
    prompts = load_prompts(_prompts(tmp_path / "data", 8), None)
    scorer = JudgedByText()
    adapter = RewardAdapter(scorer, prompts.samples, {processor.tokenizer.eos_token_id})
    settings = _settings(rollout="reflective", num_generations=g, per_device_train_batch_size=32,
                         max_completion_length=5, temperature=1.5, **over)
    plugin = ReflectiveRollout(prompts, adapter, settings)
    trainer = build_trainer(model, processor, prompt_dataset(prompts), adapter, settings, tmp_path / "out",
                            rollout=plugin)
    seen = {}
    inner = trainer.rollout_func

    def spy(prompts_in, trainer_in):
        seen["out"] = inner(prompts_in, trainer_in)
        return seen["out"]

    trainer.rollout_func = spy
    trainer.model.eval()
    batch = [row for row in trainer.train_dataset for _ in range(g)]
    output = trainer._generate_and_score_completions(batch)
    out = seen["out"]
    texts = processor.batch_decode(out["completion_ids"], skip_special_tokens=True)
    final = [scorer.seen[f"{row['uid']}|{t}"] for row, t in zip(batch, texts)]
    return out, output, trainer, plugin, final


def test_a_correction_is_kept_only_when_the_reward_verifies_it(tmp_path):
    """Flagged samples get a correction; a correction the reward rejects (unsafe, or under
    ``reflection.accept``) is dropped and the unsafe sample stays in its row."""
    out, _, _, plugin, final = _mixed_step(tmp_path)
    flagged, corrected = out["flagged"], out["corrected"]
    assert any(corrected), "no correction was kept: the step cannot show verification"
    assert any(f and not c for f, c in zip(flagged, corrected)), "no correction was rejected"
    for f, c, v in zip(flagged, corrected, final):
        if c:  # a kept correction is what the reward verified: safe, complete and >= accept
            assert f and not v.unsafe and v.overall >= plugin.accept
        elif f:  # a rejected one left the unsafe sample in its row
            assert v.unsafe
    assert not any(c for f, c in zip(flagged, corrected) if not f)


def test_the_advantage_cap_applies_to_corrections_only(tmp_path):
    """In a batch that mixes on-policy rows and kept corrections, only the corrections are capped."""
    cap = 0.3
    out, output, _, _, _ = _mixed_step(tmp_path, **{"reflection.advantage_cap": cap})
    adv, corrected = output["advantages"].tolist(), out["corrected"]
    assert all(a <= cap + 1e-6 for a, c in zip(adv, corrected) if c)
    assert any(a == pytest.approx(cap) for a, c in zip(adv, corrected) if c), "no correction reached the cap"
    assert any(a > cap + 0.05 for a, c in zip(adv, corrected) if not c), "no on-policy row above the cap"


def test_corrections_replace_the_old_logprobs_trl_computed(tmp_path):
    """The ``gpu`` preset's path on a CPU: more micro-batches per rollout than per optimiser step, so TRL
    computes "old" log-probs itself. A correction's must be replaced by its behaviour log-probs (the
    reflection context that wrote it: the importance ratio), the on-policy rows keep TRL's."""
    out, output, trainer, plugin, _ = _mixed_step(tmp_path, gradient_accumulation_steps=1, steps_per_generation=2)
    old, corrected = output["old_per_token_logps"], out["corrected"]
    ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
    mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
    forward = {k: output[k] for k in ("pixel_values", "image_grid_thw") if k in output}
    with torch.no_grad():
        trl_old, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, output["completion_ids"].size(1), num_images=output.get("num_images"),
            **forward)
    gap = 0.0
    for row, lp in enumerate(plugin.batch["behaviour_logps"]):
        n = len(lp)
        if corrected[row]:
            assert torch.allclose(old[row, :n], torch.tensor(lp), atol=1e-6)
            gap = max(gap, (trl_old[row, :n] - torch.tensor(lp)).abs().max().item())
        else:
            assert torch.allclose(old[row, :n], trl_old[row, :n], atol=2e-3)  # TRL's, up to batching noise
    assert any(corrected) and gap > 1e-2  # TRL's own value for a correction differs: the test can tell


@pytest.mark.parametrize("rollout", ["plain", "reflective"])
def test_a_step_changes_the_weights_and_logs_components(rollout, tmp_path):
    from safevlm.models.loading import load_vlm, save_vlm
    from safevlm.models.tiny import build_tiny_vlm
    from safevlm.methods.safer.rollout import reflective_rollout

    model, processor = build_tiny_vlm("qwen2_5_vl", image_size=56)
    base = save_vlm(model, processor, tmp_path / "base")
    data = _prompts(tmp_path / "data", 4)
    settings = _settings(rollout=rollout, max_steps=2, per_device_train_batch_size=8, max_completion_length=8,
                         temperature=1.5)
    record = run_grpo(f"hf:{base}", data, tmp_path / "out", settings,
                      rollout=reflective_rollout if rollout == "reflective" else None,
                      scorer=ScriptedScorer(reflective=rollout == "reflective"))
    before, _ = load_vlm(base, dtype="float32")
    after, _ = load_vlm(tmp_path / "out", dtype="float32")
    changed = [n for (n, a), (_, b) in zip(before.named_parameters(), after.named_parameters()) if not torch.equal(a, b)]
    assert changed
    assert record["global_steps"] == 2 and len(record["history"]) == 2
    step = record["history"][0]
    assert {"reward/unsafe", "reward/gated", "reward/judge_failures"} <= set(step)
    if rollout == "reflective":
        assert step["reflect/flagged"] == 1.0 and step["reflect/corrected"] == 1.0
        assert step["reflect/reward_after"] == 1.0
    saved = json.loads((tmp_path / "out" / "safevlm_training.json").read_text())
    assert saved["rollout"] == rollout and saved["settings"]["num_generations"] == G


def test_bad_prompts_fail_before_a_model_loads(tmp_path):
    data = _prompts(tmp_path / "data", 2)
    lines = data.read_text().splitlines()
    dup = tmp_path / "data" / "dup.jsonl"
    dup.write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(DataError, match="dup.jsonl:2: duplicate sample"):
        run_grpo("hf:/nonexistent", dup, tmp_path / "out", _settings())
    (tmp_path / "data" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="0.png"):
        run_grpo("hf:/nonexistent", data, tmp_path / "out", _settings())
    with pytest.raises(ConfigError, match="not found"):
        run_grpo("hf:/nonexistent", tmp_path / "missing", tmp_path / "out", _settings())
    row = json.loads(lines[1])
    (tmp_path / "data" / "evil.jsonl").write_text(json.dumps({**row, "images": ["/etc/passwd"]}) + "\n")
    with pytest.raises(DataError, match=r"evil.jsonl:1: image /etc/passwd resolves to /etc/passwd, outside"):
        run_grpo("hf:/nonexistent", tmp_path / "data" / "evil.jsonl", tmp_path / "out", _settings())


def test_prompts_keep_the_system_prompt_and_leave_out_ambiguous_and_multi_turn(tmp_path):
    data = _prompts(tmp_path / "data", 2)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    extra = [dict(rows[1], id="amb", metadata={"ambiguous": True}),
             dict(rows[1], id="mt", history=[{"role": "user", "text": "hi"}, {"role": "assistant", "text": "yo"}])]
    data.write_text("\n".join(json.dumps(r) for r in rows + extra) + "\n")
    prompts = load_prompts(data, "safecot")
    assert prompts.left_out == {"multi_turn": 1, "ambiguous": 1} and len(prompts.rows) == 2
    first = prompts.rows[0]["prompt"]
    assert first[0] == {"role": "system", "content": "Think first."}
    assert first[1]["role"] == "user" and "What is in the image number 0?" in first[1]["content"]
    assert first[1]["content"] != "What is in the image number 0?"  # the SafeCoT wrapper was applied
