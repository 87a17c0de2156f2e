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
    assert cards(), f"no card.json under {PRETRAINED}"
    listed = (PRETRAINED / "README.md").read_text()
    for card in cards():
        assert f"[{card['row']}]({card['row']}/card.md)" in listed
        assert card["row"] in release.ROWS
        assert card["command"] == release.ROWS[card["row"]].command
        assert len(card["commit"]) == 40 and card["machine"]["cpu"]
        assert card["trained"]["wall_seconds"] > 0
        assert bool(card["parts"]) == release.ROWS[card["row"]].exports  # a row that exports ships its models
        assert card["use"] and card["limits"]
        assert not [part for part in card["parts"] if release.shipped_apart(part)]  # no discriminator, critic


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


CHEAPEST_FIRST = ("reconstruction", "generator", "translate", "anomaly", "log_prob", "sample", "encoder")  # an encoder's check trains a probe


def _first_checked_part_of_each_card() -> list[tuple[str, str]]:
    """(row, part) of each card's cheapest part to re-score: one number per card in the fast tier."""
    def cost(entry):
        return min(CHEAPEST_FIRST.index(check["kind"]) for check in entry["check"])

    return [(card["row"], min((p for p, entry in card["parts"].items() if entry["check"]),
                              key=lambda p: cost(card["parts"][p])))
            for card in cards() if any(entry["check"] for entry in card["parts"].values())]


@pytest.mark.parametrize("row, part", _first_checked_part_of_each_card())
def test_card_small_subset_number_is_reproduced(row, part):
    _reproduce_check(row, part)


@pytest.mark.slow
@pytest.mark.parametrize("row, part", [(row, part) for row, part, entry in shipped_parts() if entry["check"]
                                       and (row, part) not in _first_checked_part_of_each_card()])
def test_every_other_shipped_parts_small_subset_numbers_are_reproduced(row, part):
    _reproduce_check(row, part)


def _reproduce_check(row, part):
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
    name, text, row = next((name, (tmp_path / name).read_text(), rows[0]) for name in release.DOCS
                           if (rows := release.docs_rows((tmp_path / name).read_text(), card["command"])))
    (tmp_path / name).write_text(text.replace(row, row.replace(value, value + "9")))
    problems = release.check_docs(tmp_path)
    assert any(name in p and key in p for p in problems), problems


def test_quotes_takes_whole_numbers_only():
    assert release.quotes("| −ELBO **258.5** nats |", "258.5") and release.quotes("(1,234 s)", "1,234 s")
    assert not release.quotes("258.59", "258.5") and not release.quotes("1258.5", "258.5")
    assert not release.quotes("−258.5", "258.5") and release.quotes("a −4.05 nats", "−4.05")


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

    encoders = [(c["row"], part) for c in cards() for part, entry in c["parts"].items()
                if part.endswith("encoder") and entry.get("keras_file", True)]
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


def _fake_run(runs, row, *, changed=()):
    """A finished run folder as `release.train` leaves it, with one tiny exported decoder."""
    import keras

    from gen_keras.serving import export

    folder = runs / row
    (folder / "run").mkdir(parents=True)
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(784, activation="sigmoid"),
                                keras.layers.Reshape((28, 28, 1))])
    export.export_for_serving(decoder, folder / "exports", "vae", "decoder", inputs={"code": (2,)}, outputs="image",
                              metadata={"evaluation": {"serving_default": {"prior": "normal"}}})
    export.export_for_serving(decoder, folder / "exports", "vae", "autoencoder", inputs={"code": (2,)},
                              outputs="image")
    export.export_for_serving(decoder, folder / "exports", "vae", "discriminator", inputs={"code": (2,)},
                              outputs="image")
    metrics = {"test_negative_elbo": 300.04, "iwae_negative_log_likelihood": 299.0, "prior_samples_fid": 99.123,
               "prior_samples_kid": 3.0, "train_seconds": 12.3}
    (folder / "run" / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run" / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n")
    record = {"row": row, "command": release.ROWS[row].command, "argv": [str(ROOT / "recipes/vae.py")],
              "commit": "0" * 40, "changed_files": list(changed), "machine": release.machine(),
              "started": "2026-01-01T00:00:00+0000", "wall_seconds": 20.0, "returncode": 0}
    (folder / release.RUN_RECORD).write_text(json.dumps(record))
    return folder


def test_ship_copies_a_run_into_the_serving_layout_with_its_card(tmp_path):
    from gen_keras.serving import capi

    runs, pretrained = tmp_path / "runs", tmp_path / "pretrained"
    _fake_run(runs, "vae")
    target = release.ship("vae", runs, pretrained=pretrained)
    assert target == pretrained / "vae"
    # neither the composed autoencoder nor the discriminator that only trained it
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["decoder"]
    assert (target / "decoder" / "1" / "decoder.keras").is_file()
    card = json.loads((target / release.CARD).read_text())
    assert card["headline"] == {"test_negative_elbo": "300.0", "iwae_negative_log_likelihood": "299.0",
                                "prior_samples_fid": "99.12", "prior_samples_kid": "3.000",
                                "train_seconds": "12 s"}
    assert card["trained"]["epochs"] == 2 and card["seed"] == 0 and card["parts"]["decoder"]["check"]
    assert "vae_decoder" in (pretrained / "models.config").read_text()
    assert {r.model_name for r in capi.warmup_requests(target / "decoder" / "1")} == {"vae_decoder"}
    assert "[vae](vae/card.md)" in (pretrained / "README.md").read_text()
    assert "| headline | test_negative_elbo 300.0, " in (target / "card.md").read_text()
    # A variant of a row that ships the `.keras` copies ships its SavedModels alone.
    _fake_run(runs, "vae_latent16")
    variant = release.ship("vae_latent16", runs, pretrained=pretrained)
    assert not list(variant.rglob("*.keras")) and (variant / "decoder" / "1" / "saved_model.pb").is_file()
    assert json.loads((variant / release.CARD).read_text())["parts"]["decoder"]["keras_file"] is False


def test_prune_drops_parts_that_no_longer_ship_and_keeps_the_rest(tmp_path):
    import shutil

    runs, pretrained = tmp_path / "runs", tmp_path / "pretrained"
    run = _fake_run(runs, "vae")
    target = release.ship("vae", runs, pretrained=pretrained)
    # a row shipped when discriminators still shipped: its folder and its card's entry
    shutil.copytree(next((run / "exports" / "vae" / "discriminator").iterdir()), target / "discriminator" / "1")
    card = json.loads((target / release.CARD).read_text())
    card["parts"]["discriminator"] = {**card["parts"]["decoder"], "served_as": "vae_discriminator",
                                      "path": "vae/discriminator/1"}
    card["limits"] = "an old limit"
    (target / release.CARD).write_text(json.dumps(card))
    release.prune("vae", pretrained=pretrained)
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["decoder"]
    assert not list(tmp_path.glob(".pretrained-*"))  # nothing left beside the served root
    pruned = json.loads((target / release.CARD).read_text())
    assert list(pruned["parts"]) == ["decoder"] and pruned["limits"] == release.ROWS["vae"].limits
    assert pruned["headline"] == card["headline"] and pruned["commit"] == card["commit"]
    assert "vae_discriminator" not in (pretrained / "models.config").read_text()
    assert "vae_discriminator" not in (target / "card.md").read_text()
    assert (target / "decoder" / "1" / "decoder.keras").is_file()
    with pytest.raises(release.ReleaseError, match="not shipped"):
        release.prune("dcgan", pretrained=pretrained)


def test_a_plain_decoders_card_check_is_its_reconstruction_through_the_encoder_beside_it(tmp_path):
    import keras

    from gen_keras.serving import export

    image = keras.Input((28, 28, 1), name="image")
    encoder = keras.Model(image, keras.layers.Flatten()(keras.layers.AveragePooling2D(7)(image)))
    code = keras.Input((16,), name="code")
    decoder = keras.Model(code, keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(code)))
    export.export_for_serving(encoder, tmp_path, "ae", "encoder", inputs={"image": (28, 28, 1)}, outputs="code")
    version = export.export_for_serving(decoder, tmp_path, "ae", "decoder", inputs={"code": (16,)}, outputs="image")
    (check,) = release.small_subset_check(version)
    assert check["kind"] == "reconstruction" and check["samples"] == release.CHECK_SAMPLES["generator"]
    assert 0.0 < check["reconstruction_mse"] < 1.0


def test_ship_checks_a_plain_decoder_through_the_encoder_shipped_beside_it(tmp_path):
    """Every part is in place before any is checked: a decoder sorts before its encoder."""
    import keras

    from gen_keras.serving import export

    runs, pretrained = tmp_path / "runs", tmp_path / "pretrained"
    folder = runs / "conv_autoencoder"
    (folder / "run").mkdir(parents=True)
    image = keras.Input((28, 28, 1), name="image")
    encoder = keras.Model(image, keras.layers.Flatten()(keras.layers.AveragePooling2D(4)(image)))  # 49 numbers
    code = keras.Input((49,), name="code")
    decoder = keras.Model(code, keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(code)))
    export.export_for_serving(encoder, folder / "exports", "conv_autoencoder", "encoder", inputs={"image": (28, 28, 1)},
                              outputs="code")
    export.export_for_serving(decoder, folder / "exports", "conv_autoencoder", "decoder", inputs={"code": (49,)},
                              outputs="image")
    (folder / "run" / "metrics.json").write_text(json.dumps(
        {"test_mse": 0.03, "pca_test_mse": 0.012, "train_seconds": 10.0, "dead_code_units": 3}))
    record = {"row": "conv_autoencoder", "command": release.ROWS["conv_autoencoder"].command,
              "argv": [str(ROOT / "recipes/conv_autoencoder.py")], "commit": "0" * 40, "changed_files": [],
              "machine": release.machine(), "started": "2026-01-01T00:00:00+0000", "wall_seconds": 20.0,
              "returncode": 0}
    (folder / release.RUN_RECORD).write_text(json.dumps(record))
    card = json.loads((release.ship("conv_autoencoder", runs, pretrained=pretrained) / release.CARD).read_text())
    (check,) = card["parts"]["decoder"]["check"]
    assert check["kind"] == "reconstruction" and 0.0 < check["reconstruction_mse"] < 1.0
    assert card["parts"]["encoder"]["check"][0]["kind"] == "encoder"


def test_ship_refuses_unfinished_or_changed_runs_and_leaves_nothing(tmp_path):
    runs, pretrained = tmp_path / "runs", tmp_path / "pretrained"
    with pytest.raises(release.ReleaseError, match="no finished run"):
        release.ship("vae", runs, pretrained=pretrained)
    _fake_run(runs, "vae", changed=[" M gen_keras/losses.py"])
    with pytest.raises(release.ReleaseError, match="uncommitted changes"):
        release.ship("vae", runs, pretrained=pretrained)
    with pytest.raises(release.ReleaseError, match="unknown row"):
        release.ship("no_such_row", runs, pretrained=pretrained)
    assert not pretrained.exists() or not any(pretrained.iterdir())
    with pytest.raises(release.ReleaseError, match="already holds a run"):
        release.train("vae", runs)  # a folder a run left: a recipe would resume it


def test_a_failed_reship_keeps_the_shipped_row_and_leaves_no_staging(tmp_path, monkeypatch):
    runs, pretrained = tmp_path / "runs", tmp_path / "pretrained"
    _fake_run(runs, "vae_latent16")
    release.ship("vae_latent16", runs, pretrained=pretrained)
    card = (pretrained / "vae_latent16" / release.CARD).read_text()

    def broken(version_dir):
        raise RuntimeError("disk full")

    monkeypatch.setattr(release, "small_subset_check", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        release.ship("vae_latent16", runs, pretrained=pretrained)
    assert (pretrained / "vae_latent16" / release.CARD).read_text() == card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretrained", "runs"]  # no staging or old copy left


def test_headline_numbers_are_read_by_dotted_keys_and_missing_ones_are_refused():
    assert release.metric({"a": {"b": 2.5}}, "a.b") == 2.5 and release.metric({"a": [{"p": 1}, {"p": 3}]}, "a.1.p") == 3
    with pytest.raises(release.ReleaseError, match="no 'a.c'"):
        release.metric({"a": {"b": 2.5}}, "a.c")
    with pytest.raises(release.ReleaseError, match="not a number"):
        release.metric({"fid": None}, "fid")
    with pytest.raises(release.ReleaseError, match="prior_samples_fid"):
        release.headline("vae", {"test_negative_elbo": 1.0, "iwae_negative_log_likelihood": 1.0})
