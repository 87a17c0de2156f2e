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
        assert card["trained"]["wall_seconds"] > 0
        assert bool(card["parts"]) == release.ROWS[card["row"]].exports  # a row that exports ships its models
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


def test_quotes_takes_whole_numbers_only():
    assert release.quotes("| −ELBO **258.5** nats |", "258.5") and release.quotes("(1,234 s)", "1,234 s")
    assert not release.quotes("258.59", "258.5") and not release.quotes("1258.5", "258.5")


def _models_config_dirs() -> dict:
    """{served name: its part folder}, read from pretrained/models.config as a server mounting it sees them."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((PRETRAINED / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    return {c.name: PRETRAINED / c.base_path.removeprefix("/models/") for c in config.model_config_list.config}


def test_a_shipped_decoder_served_from_models_config_draws_a_grid(tmp_path, capsys):
    """`python -m gen_keras.serve` against a server that loads pretrained/ by its models.config."""
    import numpy as np
    from matplotlib import image

    from gen_keras import serve
    from tests.tf_serving_standin import ServedModels, rest_server

    decoders = [name for name in _models_config_dirs() if name.endswith("decoder") or name.endswith("generator")]
    if not decoders:
        pytest.skip("no decoder or generator is shipped yet")
    out = tmp_path / "grid.png"
    with rest_server(ServedModels(_models_config_dirs())) as url:
        assert serve.main(["--rest", url, "--model", decoders[0], "--random", "10", "--out", str(out)]) == 0
    assert f"wrote 10 images from {decoders[0]}" in capsys.readouterr().out
    assert np.asarray(image.imread(out))[..., :3].std() > 0.05


def test_a_shipped_encoder_and_decoder_reload_in_keras_for_reuse():
    import keras
    import numpy as np

    from gen_keras import data, transfer

    encoders = [(c["row"], part) for c in cards() for part in c["parts"] if part.endswith("encoder")]
    if not encoders:
        pytest.skip("no encoder is shipped yet")
    row, part = encoders[0]
    path = transfer.latest_export(PRETRAINED, row, part)
    images = data.load_images("fashion_mnist", "test", 8).as_float()
    outputs = json.loads((path / "signatures.json").read_text())["signatures"]["serving_default"]["outputs"]
    output = "mean" if "mean" in outputs else None  # a VAE's encoder: the mean, not the log-variance
    for kind in ("keras", "savedmodel"):
        encoder = transfer.load_encoder(path, kind, output=output)
        classifier = transfer.classifier_on_encoder(encoder, 10, trainable=False)
        assert classifier(images).shape == (8, 10)
    decoder_file = next((PRETRAINED / row).glob("*decoder/1/*.keras"), None)
    if decoder_file is not None:
        decoder = keras.saving.load_model(decoder_file)
        assert np.isfinite(decoder(np.zeros((2, *decoder.input_shape[1:]), np.float32))).all()


@pytest.mark.slow
@pytest.mark.parametrize("row, part", [(row, part) for row, part, entry in shipped_parts() if entry["check"]])
def test_evaluate_reproduces_the_recorded_numbers_of_a_shipped_model(row, part):
    """`python -m gen_keras.evaluate pretrained/<row>/<part>/1`: the full re-score (10,000 samples where the
    recipe drew them) matches what the run recorded in the export, within the command's tolerance."""
    from tests.conftest import run_python

    result = run_python(["-m", "gen_keras.evaluate", str(PRETRAINED / row / part / "1")], timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "matches its record" in result.stdout or "no recorded numbers" in result.stdout
