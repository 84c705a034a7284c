"""The generic teacher loop: any backend, a validator, accepted outputs and rejects with reasons."""

from __future__ import annotations

from safevlm.backends import GenerationParams
from safevlm.backends.function import FunctionBackend
from safevlm.backends.mock import MockBackend
from safevlm.data.sample import Sample
from safevlm.teacher import Taught, load_teacher, rejected_row, request, teach


def _samples(n=4):
    return [Sample(id=str(i), source="t", text=f"question {i}", expected="refuse",
                   metadata={"truth": i, "system_prompt": "Be terse."}) for i in range(n)]


def validate(text: str) -> Taught:
    return Taught(None, "too short", text) if len(text.split()) < 3 else Taught(text.upper(), None, text)


def test_teach_validates_and_reports_each_failure_kind():
    def answer(req):
        k = req.metadata["truth"]
        if k == 2:
            raise TimeoutError("took too long")
        return "short" if k == 1 else f"a fine output number {k}"

    out = teach(FunctionBackend(answer), [request(s, "Explain: {q}", q=s.text) for s in _samples()],
                GenerationParams(), validate)
    assert [t.ok for t in out] == [True, False, False, True]
    assert out[0].text == "A FINE OUTPUT NUMBER 0"
    assert out[1].error == "too short" and out[1].raw == "short"
    assert out[2].error == "teacher error: took too long"
    row = rejected_row(_samples()[1], out[1], stage="report")
    assert row == {"id": "t:default:1", "category": None, "risk_category": None, "stage": "report",
                   "error": "too short", "teacher_output": "short"}


def test_truncated_outputs_are_rejected_and_requests_drop_the_system_prompt():
    reqs = [request(s, "Say a lot about {q}", q=s.text) for s in _samples(2)]
    assert reqs[0].text == "Say a lot about question 0" and reqs[0].metadata == {"truth": 0}
    out = teach(MockBackend("echo"), reqs, GenerationParams(max_new_tokens=3), validate)
    assert all(t.error == "truncated at 3 tokens" for t in out)


def test_oracle_spec_uses_the_method_truth_function():
    teacher = load_teacher("oracle", oracle=lambda req: f"truth says {req.metadata['truth']}")
    assert teacher.name == "oracle"
    assert teacher.generate(_samples(1))[0].text == "truth says 0"
    assert load_teacher("mock:refuse").name == "mock:refuse"
