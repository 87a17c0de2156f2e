"""The shared flags: --quick's defaults, explicit values winning, and refusals."""

import pytest

from gen_keras import cli


def parse(*argv):
    return cli.parse_args(cli.recipe_parser("t", epochs=7), list(argv), "demo")


def test_defaults_and_quick():
    args = parse()
    assert (args.epochs, args.limit, args.out, args.export_dir) == (7, None, "runs/demo", "saved_models")
    quick = parse("--quick")
    assert (quick.epochs, quick.limit) == (cli.QUICK_EPOCHS, cli.QUICK_LIMIT)
    assert (parse("--quick", "--epochs=3").epochs, parse("--quick", "--limit", "500").limit) == (3, 500)


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "-1"], ["--batch-size", "0"],
                                  ["--dataset", "imagenet"], ["--dataset", "tfds:"], ["--strategy", "tpu"]])
def test_refused(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_tfds_names_pass():
    assert parse("--dataset", "tfds:cifar10").dataset == "tfds:cifar10"
