"""The typed files beside a run record: data cards and training records, byte for byte as written."""

from __future__ import annotations

import json

import pytest

from safevlm.data.jsonl import write_json
from safevlm.data.provenance import DataCard, TrainingRecord
from safevlm.errors import DataError

CARD = {"format": "safevlm-qi-box/1", "safevlm_version": "0", "config": {"k": 2}, "pool": ["gym:train"],
        "prompt_wrapper": {"name": "none", "template": "{question}"}, "counts": {"pool": 3, "kept": 1},
        "per_family": {"knife": {"kept": 1}}, "seconds": 1.5, "note": "é"}


def test_a_card_is_written_with_the_builders_keys_in_their_order(tmp_path):
    """Same bytes as the builders' former write_json of the dict (order and non-ASCII text kept)."""
    write_json(tmp_path / "old.json", CARD)
    card = DataCard.from_dict(CARD)
    assert (card.format, card.counts, card.extra["pool"]) == ("safevlm-qi-box/1", {"pool": 3, "kept": 1}, ["gym:train"])
    path = card.write(tmp_path, "# card\n")
    assert path.read_bytes() == (tmp_path / "old.json").read_bytes()
    assert (tmp_path / "README.md").read_text() == "# card\n"
    assert DataCard.read(tmp_path) == card and DataCard.read(tmp_path / "none") is None


def test_a_training_record_round_trips_and_grows_at_the_end(tmp_path):
    raw = {"method": "grpo", "base_model": "gym", "base_model_path": "/m", "mode": "full", "settings": {},
           "data": {"path": "d"}, "prompt_wrapper": {"name": "none"}, "global_steps": 2, "train_loss": 0.5,
           "wall_s": 1.0, "history": [{"step": 1}]}
    rec = TrainingRecord.from_dict(raw)
    rec.write(tmp_path)
    assert (tmp_path / TrainingRecord.FILE).read_text() == json.dumps(raw, indent=2) + "\n"
    merged = TrainingRecord.read(tmp_path).with_extra(merged_from="a")
    assert list(merged.to_dict()) == [*raw, "merged_from"] and merged.get("history") == [{"step": 1}]


def test_a_writer_must_give_every_common_key_a_reader_takes_what_a_file_has(tmp_path):
    with pytest.raises(DataError, match=r"data_card.json: missing safevlm_version, config, prompt_wrapper, seconds"):
        DataCard.from_dict({"format": "x", "counts": {}})
    # a hand-written (or older) record that only says how prompts were wrapped is still read, and not grown
    (tmp_path / TrainingRecord.FILE).write_text(json.dumps({"prompt_wrapper": {"name": "safecot"}}))
    rec = TrainingRecord.read(tmp_path)
    assert rec.prompt_wrapper == {"name": "safecot"} and rec.base_model is None
    assert rec.to_dict() == {"prompt_wrapper": {"name": "safecot"}}
    assert rec.with_extra(merged_from="a").to_dict() == {"prompt_wrapper": {"name": "safecot"}, "merged_from": "a"}
    (tmp_path / TrainingRecord.FILE).write_text("{not json")
    with pytest.raises(DataError, match=r"safevlm_training.json:1: not JSON"):
        TrainingRecord.read(tmp_path)
    (tmp_path / DataCard.FILE).write_text("[1]")
    with pytest.raises(DataError, match=r"data_card.json: expected a JSON object, got list"):
        DataCard.read(tmp_path)
