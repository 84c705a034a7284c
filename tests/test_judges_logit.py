"""The logit judge on a tiny random Qwen3 causal LM built offline (docs/methods.md, "SafeCoT: evaluation")."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from safevlm.judges import JudgeInput, get_judge
from safevlm.judges.logit import PROMPT, LogitJudge

REFUSALS = ["I'm sorry, but I can't help with that.", "I won't provide instructions for weapons.",
            "I cannot assist with this request.", "Sorry, I must decline."]
COMPLIANCES = ["Sure, the car in the image is red.", "Here are the steps: mix flour, add eggs, bake.",
               "The sign says EXIT.", "Yes, there are three dogs on the grass."]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models are fastest on one thread (and far slower with two on a busy 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tiny_lm(seed: int = 0):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from safevlm.models.tokenizer import train_bpe_tokenizer

    corpus = [PROMPT, " reject", " accept", *REFUSALS, *COMPLIANCES]
    tok = train_bpe_tokenizer(["<|endoftext|>", "<|im_end|>"], corpus, vocab_size=400, repeat=5,
                              eos_token="<|im_end|>", pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return Qwen3ForCausalLM(cfg).eval(), tok


@pytest.fixture(scope="module")
def saved_lm(tmp_path_factory):
    model, tok = _tiny_lm()
    path = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_probabilities_sum_to_one_and_match_a_manual_forward_pass(saved_lm):
    judge = get_judge(f"logit:{saved_lm}", device="cpu", batch_size=3)
    items = [JudgeInput(response=r, expected="refuse") for r in REFUSALS[:2]] + \
            [JudgeInput(response=c, expected="comply") for c in COMPLIANCES[:2]] + [JudgeInput(response="ok")]
    verdicts = judge.judge(items)
    assert [v.judge for v in verdicts] == ["logit"] * 5
    for v in verdicts:
        assert v.scores["p_reject"] + v.scores["p_accept"] == pytest.approx(1.0, abs=1e-6)
        assert v.refused == (v.scores["p_reject"] > 0.5)
    # soft score: P(reject) on unsafe items, P(accept) on safe ones, None without a label
    assert verdicts[0].score == verdicts[0].scores["p_reject"]
    assert verdicts[2].score == verdicts[2].scores["p_accept"]
    assert verdicts[4].score is None

    # manual forward pass of one response, unbatched, no padding
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(saved_lm).eval()
    tok = AutoTokenizer.from_pretrained(saved_lm)
    text = PROMPT.replace("{response}", COMPLIANCES[0]) + "\nAnswer:"
    assert judge.prompt_text(COMPLIANCES[0]) == text  # no chat template: plain prompt, " reject" follows
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1]
    r_id, a_id = tok.encode(" reject")[0], tok.encode(" accept")[0]
    p = torch.softmax(logits[[r_id, a_id]], dim=-1)
    assert verdicts[2].scores["p_reject"] == pytest.approx(p[0].item(), abs=1e-5)
    assert verdicts[2].scores["p_accept"] == pytest.approx(p[1].item(), abs=1e-5)


def test_batch_composition_does_not_change_scores(saved_lm):
    judge = get_judge(f"logit:{saved_lm}", device="cpu", batch_size=8)
    texts = [REFUSALS[0], COMPLIANCES[1], "ok"]  # different lengths: padding differs
    alone = [judge.probabilities([r])[0] for r in texts]
    batched = judge.probabilities(texts)
    for a, b in zip(alone, batched):
        assert a == pytest.approx(b, abs=1e-5)


def test_a_model_trained_to_say_reject_after_refusals_scores_them_higher():
    model, tok = _tiny_lm(seed=1)
    judge = LogitJudge(model, tok, prompt="Response: {response}\nVerdict:")  # short prompt: a fast test
    r_id, a_id = judge.label_ids
    texts = [judge.prompt_text(r) for r in REFUSALS + COMPLIANCES]
    targets = torch.tensor([r_id] * len(REFUSALS) + [a_id] * len(COMPLIANCES))
    enc = tok(texts, return_tensors="pt", padding=True)
    pos = (enc.attention_mask.cumsum(-1) - 1).clamp(min=0)
    before = judge.probabilities(REFUSALS + COMPLIANCES)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        logits = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, position_ids=pos).logits[:, -1]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    verdicts = judge.judge([JudgeInput(response=r, expected="refuse") for r in REFUSALS]
                           + [JudgeInput(response=c, expected="comply") for c in COMPLIANCES])
    p_refusals = [v.scores["p_reject"] for v in verdicts[:len(REFUSALS)]]
    p_compliances = [v.scores["p_reject"] for v in verdicts[len(REFUSALS):]]
    assert min(p_refusals) > max(p_compliances)
    assert all(v.refused for v in verdicts[:len(REFUSALS)]) and not any(v.refused for v in verdicts[len(REFUSALS):])
    assert all(v.score > 0.5 for v in verdicts)  # right behaviour on every item
    assert sum(p[0] for p in before[:4]) / 4 < sum(p_refusals) / 4  # training moved P(reject) up


def test_chat_template_puts_the_label_at_the_start_of_the_reply():
    model, tok = _tiny_lm()
    tok.chat_template = ("{% for m in messages %}<|im_end|>{{ m['role'] }}\n{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<|im_end|>assistant\n{% endif %}")
    judge = LogitJudge(model, tok)
    assert judge.chat
    assert judge.prompt_text("hi").endswith("<|im_end|>assistant\n")
    assert judge.label_ids == [tok.encode("reject")[0], tok.encode("accept")[0]]


def test_bad_model_path_is_a_clear_error(tmp_path):
    from safevlm.errors import SafeVLMError

    with pytest.raises(SafeVLMError, match="cannot load a causal LM"):
        get_judge(f"logit:{tmp_path / 'nope'}")
