"""A spec's ``official:`` block: how the benchmark's authors score it, declared as data.

The block says which items of the benchmark's protocol file (``eval/protocol.json``,
:mod:`safevlm.bench.protocol`) supply each judge's prompt, phrase list, regex and
settings (by the item's name), names the verdict parser (a small named set implemented
in :mod:`safevlm.judges.protocols`, listed in :data:`JUDGE_KINDS`) and how the verdicts
aggregate into the authors' metrics (per scenario, per subset, majority over samples,
MSSBench's mean of safe and unsafe accuracy...). No prompt text or phrase is written in
a spec: only item names. Each item's value is pinned once, by the spec's
``sources.protocol.items`` (:mod:`safevlm.bench.sources`); the spec refuses an official
block that reads an item with no pin.
Evaluations report the result beside safevlm's uniform view (``official`` in
results.json; docs/benchmark-protocols.md says, per benchmark, what is computed and
what still differs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from safevlm.bench.strict import Strict as _Strict
from safevlm.bench.strict import did_you_mean

#: judge kind -> role -> (allowed item kinds, several items allowed, optional); and whether it calls an LLM.
#: Each kind is a parser in :mod:`safevlm.judges.protocols` (tests/test_official_protocols.py checks both agree).
JUDGE_KINDS: dict[str, dict[str, Any]] = {
    "prefix_match": {"llm": False, "roles": {"prefixes": ("prefix_list", True, False), "labels": ("label_map", False, False)}},
    "substring_refusal": {"llm": False, "roles": {"phrases": ("phrase_list", True, False),
                                                  "exact": ("phrase_list", True, True)}},
    "empty_refusal": {"llm": False, "roles": {"empty": ("label_map", False, False)}},
    "siuo_mcqa": {"llm": False, "roles": {"choices": ("phrase_list", False, False), "strip": ("phrase_list", False, False),
                                          "patterns": ("phrase_list", False, False), "bare": ("phrase_list", False, False)}},
    "xstest_classes": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False),
                                              "system": ("judge_prompt", False, True),
                                              "settings": ("judge_settings", False, False),
                                              "classes": ("label_map", False, False)}},
    "mmsb_safety": {"llm": True, "roles": {"templates": ("label_map", False, False), "labels": ("label_map", False, False)}},
    "vlguard_winrate": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "verdict": ("label_map", False, False),
                                               "settings": ("judge_settings", False, False)}},
    "siuo_safety": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "regex": ("regex", False, False),
                                           "map": ("label_map", False, False), "empty": ("label_map", False, True),
                                           "settings": ("judge_settings", False, False)}},
    "siuo_effectiveness": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "regex": ("regex", False, False),
                                                  "map": ("label_map", False, False),
                                                  "settings": ("judge_settings", False, False)}},
    "mossbench_refusal": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "regex": ("regex", False, False),
                                                 "fallback": ("label_map", False, False), "empty": ("label_map", False, False),
                                                 "settings": ("judge_settings", False, False)}},
    "mmvet_grader": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "query": ("judge_prompt", False, False),
                                            "retry": ("judge_prompt", False, False),
                                            "settings": ("judge_settings", False, False)}},
    "vlsbench_label": {"llm": True, "roles": {"prompt": ("judge_prompt", False, False), "system": ("judge_prompt", False, True),
                                              "labels": ("label_map", False, False),
                                              "settings": ("judge_settings", False, False)}},
    "mssbench_class": {"llm": True, "roles": {"template": ("judge_prompt", False, False), "prompt1": ("judge_prompt", False, False),
                                              "prompt2": ("judge_prompt", False, False), "rubric": ("label_map", False, False),
                                              "rubric_format": ("judge_prompt", False, False),
                                              "split": ("phrase_list", False, False), "answer_tag": ("phrase_list", False, False),
                                              "settings": ("judge_settings", False, False)}},
}

#: task-prompt builder -> its item roles (the evaluated model's text built from the protocol's task prompt)
TASK_BUILDERS: dict[str, tuple[str, ...]] = {"prefix": ("prompt",), "replace": ("prompt",),
                                              "siuo_mcqa": ("prompt", "option_line")}

Aggregate = Literal["share", "mean", "answer", "pairs"]


class OfficialJudge(_Strict):
    """One of the authors' automatic judges: a parser of ours fed with protocol items."""

    kind: str = Field(description="The verdict parser: " + ", ".join(f"`{k}`" for k in JUDGE_KINDS) +
                      " (docs/benchmark-protocols.md says what each does).", examples=["prefix_match"])
    items: dict[str, str | list[str]] = Field(default_factory=dict, description="Role -> the name of the protocol "
                                              "item (or items) that supplies it.",
                                              examples=[{"prefixes": ["strmatch_refusal_prefixes_apology"],
                                                         "labels": "strmatch_label_map"}])

    @model_validator(mode="after")
    def _roles(self) -> OfficialJudge:
        if self.kind not in JUDGE_KINDS:
            raise ValueError(f"unknown judge kind {self.kind!r}{did_you_mean(self.kind, list(JUDGE_KINDS))}; "
                             f"known: {', '.join(JUDGE_KINDS)}")
        roles = JUDGE_KINDS[self.kind]["roles"]
        unknown = sorted(set(self.items) - set(roles))
        missing = sorted(r for r, (_, _, optional) in roles.items() if not optional and r not in self.items)
        several = sorted(r for r, v in self.items.items() if r in roles and isinstance(v, list) and not roles[r][1])
        problems = ([f"unknown role(s) {', '.join(unknown)}"] if unknown else []) + \
                   ([f"missing role(s) {', '.join(missing)}"] if missing else []) + \
                   ([f"role(s) {', '.join(several)} take one item"] if several else [])
        if problems:
            raise ValueError(f"judge kind {self.kind!r}: {'; '.join(problems)} (roles: {', '.join(roles)})")
        return self

    @property
    def llm(self) -> bool:
        return bool(JUDGE_KINDS[self.kind]["llm"])

    def item_names(self) -> list[str]:
        """The protocol items it names, in role order."""
        return [n for v in self.items.values() for n in ([v] if isinstance(v, str) else v)]


class OfficialMetric(_Strict):
    """One of the authors' metrics: which judge's verdicts, over which items, aggregated how."""

    judge: str | list[str] | None = Field(None, description="The judge (a key of `judges`); a list: an item "
                                          "counts when every judge's label is in `share_of` (SIUO's safe AND "
                                          "effective).", examples=["strmatch", ["safe", "effective"]])
    aggregate: Aggregate = Field("share", description="`share`: share of items whose label is in `share_of`; "
                                 "`mean`: mean of a numeric label; `answer`: share whose label equals the "
                                 "item's gold answer; `pairs`: MSSBench's accuracy over safe/unsafe pairs "
                                 "(see `side`).", examples=["mean"])
    share_of: list[str | int | float] | None = Field(None, description="Labels counted by `share`.",
                                                     examples=[["2_full_refusal"]])
    share_of_item: str | None = Field(None, description="Take `share_of` from a protocol label map: "
                                      "`ITEM` or `ITEM.KEY`.", examples=["rate_label_sets.safe_rate"])
    where: dict[str, Any] = Field(default_factory=dict, description="Only items whose `expected`, `category` or "
                                  "metadata field has this value.", examples=[{"subset": "unsafes"}])
    by: str | None = Field(None, description="Also report the metric per value of `category`, "
                           "`risk_category` or a metadata field (a list value counts under each).",
                           examples=["category"])
    pool: bool = Field(True, description="Report a value over all items; `false` where the authors never pool "
                       "the `by` groups (then the value is given only when one group is present).")
    majority: bool = Field(False, description="First take, per item sampled several times (`repeat`), the "
                           "most frequent label of its samples.")
    side: Literal["safe", "unsafe", "mean"] | None = Field(None, description="`pairs`: accuracy on the safe "
                                                           "side, the unsafe side, or their mean.")
    correct: str | None = Field(None, description="`pairs`: the protocol label map of correct labels per side "
                                "(keys `safe_image`, `unsafe_image`).", examples=["correct_label_sets"])
    manual: str | None = Field(None, description="The authors score this by hand: never computed, reported "
                               "with this reason.")
    description: str = Field("", description="What the metric is, in a few words (shown in reports).")
    note: str = Field("", description="A difference from upstream worth knowing (shown in results.json).")

    @model_validator(mode="after")
    def _complete(self) -> OfficialMetric:
        if self.manual is not None:
            return self
        if self.judge is None:
            raise ValueError("a metric needs a 'judge' (or 'manual': why it is not computed)")
        if self.aggregate == "share" and self.share_of is None and self.share_of_item is None:
            raise ValueError("aggregate 'share' needs 'share_of' or 'share_of_item'")
        if self.aggregate == "pairs" and (self.side is None or self.correct is None):
            raise ValueError("aggregate 'pairs' needs 'side' and 'correct'")
        return self

    @property
    def judges(self) -> list[str]:
        return [] if self.judge is None else [self.judge] if isinstance(self.judge, str) else list(self.judge)


class TaskPrompt(_Strict):
    """The evaluated model's text built from a task prompt of the protocol (as the authors sent it)."""

    builder: Literal["prefix", "replace", "siuo_mcqa"] = Field(
        description="`prefix`: the protocol prompt directly before the benchmark's text (MSSBench); `replace`: "
        "the protocol prompt instead of it (FigStep's attack prompt); `siuo_mcqa`: the question and its option "
        "lines filled into the protocol's template.", examples=["prefix"])
    items: dict[str, str] = Field(description="Role -> protocol item: `prompt`, and for `siuo_mcqa` "
                                  "`option_line`.", examples=[{"prompt": "prompt_chat_if"}])

    @model_validator(mode="after")
    def _roles(self) -> TaskPrompt:
        need = TASK_BUILDERS[self.builder]
        if sorted(self.items) != sorted(need):
            raise ValueError(f"task prompt builder {self.builder!r} takes the roles {', '.join(need)}")
        return self


class OfficialSpec(_Strict):
    """The authors' scoring protocol of a benchmark (or of one variant)."""

    judges: dict[str, OfficialJudge] = Field(default_factory=dict, description="Name -> the authors' judge.")
    metrics: dict[str, OfficialMetric] = Field(default_factory=dict, description="Name (the key in "
                                               "results.json's `official`) -> metric.")
    offline_judge: str | None = Field(None, description="The judge `--judge protocol:NAME` applies (an offline "
                                      "one, e.g. a phrase list).")
    note: str = Field("", description="What the authors' protocol is, where no metric is declared.")

    @model_validator(mode="after")
    def _references(self) -> OfficialSpec:
        problems = []
        for name, m in self.metrics.items():
            problems += [f"metrics.{name}: unknown judge {j!r} (judges: {', '.join(self.judges) or 'none'})"
                         for j in m.judges if j not in self.judges]
        if self.offline_judge is not None:
            j = self.judges.get(self.offline_judge)
            if j is None or j.llm:
                problems.append(f"offline_judge {self.offline_judge!r} must name a judge that calls no LLM")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def item_names(self) -> list[str]:
        """The protocol items this block names: its judges' items, the label maps its metrics read."""
        names = [n for j in self.judges.values() for n in j.item_names()]
        names += [m.share_of_item.partition(".")[0] for m in self.metrics.values() if m.share_of_item]
        names += [m.correct for m in self.metrics.values() if m.correct]
        return list(dict.fromkeys(names))
