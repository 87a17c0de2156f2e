"""The shipped models in pretrained/: each loads in TensorFlow's C++ loader and answers, each card's
small-subset number is reproduced, and the README and overview quote the cards' numbers."""

import json
from functools import lru_cache

import pytest

from gen_keras import release
from tests.conftest import ROOT

PRETRAINED = ROOT / release.PRETRAINED


@lru_cache(maxsize=1)
def cards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(PRETRAINED.glob(f"*/{release.CARD}"))]


def shipped_parts() -> list[tuple[str, str, dict]]:
    return [(card["row"], part, entry) for card in cards() for part, entry in card["parts"].items()]


def test_every_card_describes_a_known_row_and_a_clean_run():
    for card in cards():
        assert card["row"] in release.ROWS
        assert card["command"] == release.ROWS[card["row"]].command
        assert len(card["commit"]) == 40 and card["machine"]["cpu"]
        assert card["trained"]["wall_seconds"] > 0 and card["parts"]
        assert card["use"] and card["limits"]


def test_models_config_serves_exactly_the_shipped_parts():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if not cards():
        pytest.skip("nothing is shipped yet")
    config = text_format.Parse((PRETRAINED / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    served = {c.name: c.base_path for c in config.model_config_list.config}
    assert served == {entry["served_as"]: f"/models/{row}/{part}" for row, part, entry in shipped_parts()}


@pytest.mark.parametrize("row, part", [(row, part) for row, part, _ in shipped_parts()])
def test_shipped_model_loads_in_the_cpp_loader_and_replays_its_warmup(row, part):
    from gen_keras.serving import capi, export

    version = PRETRAINED / row / part / "1"
    answers = capi.replay_warmup(version)
    assert answers and all(v.size for answer in answers for v in answer.values())
    records = capi.warmup_requests(version)
    assert {r.model_name for r in records} == {export.served_name(row, part)}  # renamed for its place here


@pytest.mark.parametrize("row, part", [(row, part) for row, part, entry in shipped_parts() if entry["check"]])
def test_card_small_subset_numbers_are_reproduced(row, part):
    card = next(c for c in cards() if c["row"] == row)
    measured = {c["signature"]: c for c in release.small_subset_check(PRETRAINED / row / part / "1")}
    for recorded in card["parts"][part]["check"]:
        again = measured[recorded["signature"]]
        for key, value in recorded.items():
            if isinstance(value, float):
                assert again[key] == pytest.approx(value, rel=2e-3, abs=1e-4), (row, part, key)


def test_docs_quote_the_cards_numbers():
    assert release.check_docs(ROOT) == []


def test_docs_check_catches_a_number_that_differs(tmp_path):
    """The check itself: a README row quoting another number than the card's is reported."""
    if not cards():
        pytest.skip("nothing is shipped yet")
    card = next(c for c in cards() if c["headline"])
    for name in release.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / release.PRETRAINED).symlink_to(PRETRAINED)
    assert release.check_docs(tmp_path) == []
    key, value = next(iter(card["headline"].items()))
    readme = (tmp_path / "README.md").read_text()
    row = release.docs_rows(readme, card["command"])[0]
    (tmp_path / "README.md").write_text(readme.replace(row, row.replace(value, value + "9")))
    problems = release.check_docs(tmp_path)
    assert any("README.md" in p and key in p for p in problems), problems
