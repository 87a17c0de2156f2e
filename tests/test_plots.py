"""The generic figures: the curve helper draws the labels and scales it is given, and writes whole PNGs."""

import numpy as np
import pytest

from gen_keras import plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures `plots` would save, kept (and still written) so a test can read them back."""
    figures = []
    save = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_curves_writes_the_axis_labels_title_and_scales_it_is_given(tmp_path, drawn):
    series = {"first": ([1, 2, 3], [4.0, 2.0, 1.0]), "second": ([1, 2, 3], [3.0, 1.5, 0.5], {"linestyle": "--"})}
    path = plots.curves(series, tmp_path / "curves.png", xlabel="training step",
                        ylabel="squared error of the predicted noise, per pixel", title="The loss",
                        log_y=True, baselines={"a baseline": 2.5})

    assert path == str(tmp_path / "curves.png") and (tmp_path / "curves.png").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left behind
    (ax,) = drawn[0].axes
    assert ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "squared error of the predicted noise, per pixel"
    assert ax.get_title() == "The loss"
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "log")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first", "second", "a baseline"]
    assert ax.get_lines()[1].get_linestyle() == "--"  # a curve's own style wins


def test_per_step_and_per_epoch_place_their_points(tmp_path, drawn):
    losses = np.linspace(2.0, 1.0, 120)
    steps = plots.per_step(losses, steps_per_epoch=60, validation=[1.8, 1.2], window=10, name="training: nll")
    assert list(steps) == ["training: nll, per step", "training: nll, mean of 10 steps", "validation"]
    assert list(steps["validation"][0]) == [60, 120]
    np.testing.assert_allclose(steps["training: nll, mean of 10 steps"][1][0], losses[:10].mean())
    epochs = plots.per_epoch({"loss": [3.0, 2.0], "val_loss": [], "kl": [1.0, 0.5]}, ("loss", "val_loss", "kl", "x"))
    assert {k: list(x) for k, (x, _) in epochs.items()} == {"loss": [1, 2], "kl": [1, 2]}

    plots.curves(epochs, tmp_path / "epochs.png", xlabel="epoch", ylabel="nats per image", log_x=True)
    (ax,) = drawn[0].axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale()) == ("epoch", "nats per image", "log")


@pytest.mark.parametrize("critic", [False, True])
def test_gan_training_curves_name_what_the_middle_panel_shows(tmp_path, drawn, critic):
    from gen_keras.figures import gan as gan_figures

    history = {"d_loss": [1.0, 0.9], "g_loss": [0.7, 0.8], "d_real": [0.6, 0.5], "d_fake": [0.4, 0.5],
               "wasserstein": [0.2, 0.0], "fid": [float("nan"), 40.0]}
    gan_figures.training_curves(history, tmp_path / "gan_curves.png", "t",
                                scores=("d_real", "d_fake", "wasserstein") if critic else ("d_real", "d_fake"),
                                equilibrium=None if critic else 0.5)
    losses, scores, fid = drawn[0].axes
    assert losses.get_ylabel() == "loss" and fid.get_ylabel() == "FID" and fid.get_yscale() == "log"
    assert scores.get_ylabel() == ("mean critic output f(·)" if critic else "mean discriminator output D(·)")
    legend = [t.get_text() for t in scores.get_legend().get_texts()]
    assert legend == (["d_real", "d_fake", "wasserstein"] if critic else ["d_real", "d_fake", "equilibrium 0.5"])
    assert list(fid.get_lines()[0].get_xdata()) == [2]  # the epoch without a finite FID is left out
