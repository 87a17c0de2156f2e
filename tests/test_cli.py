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


def test_every_recipe_parses_its_flags_and_prints_its_help_without_importing_tensorflow():
    """`--help` and a bad flag answer at once: importing a recipe and parsing its defaults loads no TensorFlow
    (a GAN recipe once paid a 7 s TensorFlow import for `--help` through a constant in the classifier module)."""
    from tests.conftest import ROOT, run_python

    script = ("import importlib.util, pathlib, sys\n"
              "for path in sorted(pathlib.Path(sys.argv[1]).glob('*.py')):\n"
              "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
              "    module = importlib.util.module_from_spec(spec)\n"
              "    spec.loader.exec_module(module)\n"
              "    module.parse([])\n"
              "    try:\n"
              "        module.parse(['--help'])\n"  # formats every help string ('%' must be '%%')
              "    except SystemExit as e:\n"
              "        assert e.code == 0, path.name\n"
              "    assert 'tensorflow' not in sys.modules, path.name\n"
              "print(len(sorted(pathlib.Path(sys.argv[1]).glob('*.py'))))\n")
    result = run_python(["-c", script, str(ROOT / "recipes")], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 15
