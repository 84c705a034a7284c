"""SafetyGym v3 wording: lexicon words in cores and style frames, held-out language for test-para only."""

from __future__ import annotations

import json
from random import Random

import pytest

from safevlm.gym.language import PARA, SEEN, Say, second_person
from safevlm.gym.lexicon import concept, held_words
from safevlm.gym.templates import CORES, STYLES, is_held_core


def _asks(mode: str, qtype: str, n: int = 300, **slots):
    say = Say(Random(f"lang:{qtype}:{mode}"), mode)
    return [say.ask(qtype, **slots) for _ in range(n)]


@pytest.mark.parametrize("qtype,slots", [("color", {"obj": "cup"}), ("exist", {"obj": "car"}), ("count", {}),
                                         ("intent", {"intent": "hurt someone"}), ("siuo", {"statement": "fly"})])
def test_seen_wording_never_uses_held_language_and_para_always_does(qtype, slots):
    held = held_words()
    for asked in _asks(SEEN, qtype, **slots):
        assert not is_held_core(asked.core) and asked.held_words == [] and asked.style != "quoted"
        style, form, index = asked.frame.split(":")
        assert int(index) < len(STYLES[style][form].seen)
        assert not any(f" {w} " in f" {asked.text.lower()} " for w in held if len(w) > 4), asked.text
    para = _asks(PARA, qtype, **slots)
    assert all(is_held_core(a.core) for a in para)
    assert {a.style for a in para} >= {"quoted", "polite", "casual"}
    for a in para:
        style, form, index = a.frame.split(":")
        assert style == "plain" or int(index) >= len(STYLES[style][form].seen), a.frame


def test_held_lexicon_words_reach_test_para_requests():
    words = {w for a in _asks(PARA, "intent", 400, intent="hurt someone") for w in a.held_words}
    assert "injure" in words and "another person" in words
    words = {w for a in _asks(PARA, "exist", 400, obj="car") for w in a.held_words}
    assert "automobile" in words


def test_meaning_survives_the_wording():
    """Every wording of an intent keeps its verb's and target's meaning (lexicon entries of the same concepts)."""
    verbs, targets = concept("v:attack").words, concept("t:stranger").words
    for a in _asks(SEEN, "intent", 200, intent="attack a stranger") + _asks(PARA, "intent", 200,
                                                                                 intent="attack a stranger"):
        text = a.text.lower()
        assert any(v in text for v in verbs) or a.typos, a.text
        assert any(second_person(t).lower() in text or t.lower() in text for t in targets) or a.typos, a.text


def test_second_person_style_puts_the_request_to_the_assistant():
    assert second_person("clean my room") == "clean your room"
    assert second_person("hurt myself") == "hurt yourself"
    assert second_person("attack someone I don't know") == "attack someone you don't know"
    second = [a for a in _asks(SEEN, "intent", 400, intent="hurt myself") if a.style == "second"]
    assert second and all(a.core.startswith("intent_you:") and "yourself" in a.text.lower() for a in second
                          if not a.typos)


def test_typos_misspell_a_few_words_and_nothing_else():
    say = Say(Random(1))
    text = "Could you please tell me what colour the teacup in this photograph is?"
    for _ in range(50):
        noisy = say.typos(text)
        a, b = text.split(), noisy.split()
        assert len(a) == len(b) and noisy != text
        assert 1 <= sum(x != y for x, y in zip(a, b)) <= 3


def test_wording_is_seeded():
    a = [x.text for x in _asks(SEEN, "scene", 50)]
    assert a == [x.text for x in _asks(SEEN, "scene", 50)]


def test_every_core_fills_without_leftover_slots():
    slots = {"obj": "knife", "intent": "cook dinner", "statement": "nap", "act": "kill a Python process", "w": "mug"}
    for qtype, pool in CORES.items():
        for mode in (SEEN, PARA):
            say = Say(Random(qtype), mode)
            for core in pool.all:
                for text in (core.q, core.e or ""):
                    say._held = []
                    filled = say.fill(text, {"_obj": slots["obj"], "intent": say.intent(slots["intent"]),
                                             "statement": say.statement(slots["statement"]), "act": slots["act"],
                                             "w": slots["w"]})
                    assert "{" not in filled and "}" not in filled, (qtype, text, filled)


def test_lexicon_file_is_what_the_script_writes():
    """The shipped lexicon holds exactly the script's concepts (rebuild: scripts/build_gym_lexicon.py; WordNet is
    needed only then): head first, the kept WordNet lemmas, the hand entries, the held ones marked."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "build_gym_lexicon.py"
    spec = importlib.util.spec_from_file_location("build_gym_lexicon", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = json.loads(script.OUT.read_text())["concepts"]
    assert list(data) == list(script.CONCEPTS)
    for cid, c in script.CONCEPTS.items():
        entries = data[cid]["entries"]
        art = (lambda w: f"{'an' if w[0] in 'aeiou' else 'a'} {w}") if c.get("article") else (lambda w: w)
        kept = [art(w) for _, _, keep in c.get("wordnet", []) for w in keep]
        assert entries[0]["text"] == c["head"]
        assert sorted(e["text"] for e in entries) == sorted(dict.fromkeys([c["head"], *kept, *c.get("hand", [])]))
        assert {e["text"] for e in entries if e["held"]} == set(c.get("held", [])), cid
