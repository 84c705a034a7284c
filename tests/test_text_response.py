"""The one response parser: think / answer / prompt blocks, and the unclosed-tag rule."""

from __future__ import annotations

import pytest

from safevlm.eval.mcqa import chosen_letter
from safevlm.text import find_refusal, parse_response

CASES = [
    # text, think, answer, prompt, tagged, complete, well_formed
    ("Plain answer.", None, "Plain answer.", None, False, True, False),
    ("<think>It is red.</think><answer>Red.</answer>", "It is red.", "Red.", None, True, True, True),
    ("  <think>a</think>\n<answer>b</answer>\n", "a", "b", None, True, True, True),
    ("<think>a</think> b", "a", "b", None, False, True, False),  # answer after </think>, no tag
    ("<think>still reasoning when the tokens ran out", "still reasoning when the tokens ran out", "", None,
     False, False, False),  # unclosed <think>: no answer was given
    ("<think>a</think><answer>cut off mid", "a", "cut off mid", None, True, False, False),  # unclosed answer
    ("<think>a<answer>b</answer>", "a", "b", None, True, False, False),  # think left open before <answer>
    ("<THINK>x</THINK><ANSWER>y</ANSWER>", "x", "y", None, True, True, True),
    ("Intro <think>a</think><answer>b</answer>", "a", "b", None, True, True, False),  # text outside the blocks
    ("<think>risk report</think><prompt>What is safe to do here?</prompt>", "risk report", "", "What is safe to do here?",
     False, True, False),
    ("<think>r</think><prompt>unfinished rewrite", "r", "", "unfinished rewrite", False, False, False),
    ("<answer>x</answer> stray </think>", None, "x", None, False, True, False),
]


@pytest.mark.parametrize("text, think, answer, prompt, tagged, complete, well_formed", CASES)
def test_blocks_and_rules(text, think, answer, prompt, tagged, complete, well_formed):
    p = parse_response(text)
    assert (p.think, p.answer, p.prompt, p.tagged, p.complete, p.well_formed) == (
        think, answer, prompt, tagged, complete, well_formed)


def test_consumers_agree_on_an_unclosed_think():
    """The refusal detector and multiple-choice scoring read the same (empty) answer."""
    text = "<think>I can't help with that. The answer is B."
    assert parse_response(text).answer == ""
    assert not find_refusal(text).refused  # reasoning is not the answer
    assert chosen_letter(text, {"A": "first option", "B": "second option"}) is None
    closed = text + "</think>B"
    assert chosen_letter(closed, {"A": "first option", "B": "second option"}) == "B"


def test_the_guard_reads_rewrites_with_the_one_parser_and_refuses_any_stray_tag():
    """parse_rewrite is parse_response plus the guard's exact shape: a tag anywhere but the four
    expected ones (in the report too) fails closed, and the blocks are parse_response's."""
    from safevlm.text.rewrite import RewriteParseError, parse_rewrite

    text = " <think> risk </think>\n<prompt> Describe the image. </prompt> "
    r, p = parse_rewrite(text), parse_response(text)
    assert (r.report, r.prompt) == (p.think, p.prompt) == ("risk", "Describe the image.")
    for bad in ("<think>a <answer>x</answer></think><prompt>b</prompt>",
                "<think>a</think>x</think><prompt>b</prompt>",
                "<think>a<prompt>c</think><prompt>b</prompt>",
                "<think>a</think><prompt>b<answer></prompt>",
                "x<think>a</think><prompt>b</prompt>"):
        with pytest.raises(RewriteParseError):
            parse_rewrite(bad)
