"""MirroredStrategy over two logical CPU devices trains like one device (the multi-GPU path, without GPUs)."""

import json

import pytest

from tests.conftest import run_python

pytestmark = pytest.mark.slow  # two trainings in subprocesses

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from gen_keras import cli, data, training
from gen_keras.models.autoencoders import conv_autoencoder

results = {}
for strategy in ("default", "mirrored"):
    args = cli.parse_args(cli.recipe_parser("t", epochs=2), ["--strategy", strategy, "--batch-size", "64",
                          "--seed", "1", "--out", sys.argv[1] + "/" + strategy], "t")
    run = training.setup(args)
    with run.strategy.scope():
        parts = conv_autoencoder("improved")
        parts.autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", **run.compile_options())
    history = training.fit(parts.autoencoder, data.load_images(limit=1024), None, run, 2, verbose=0)
    results[strategy] = {"replicas": run.strategy.num_replicas_in_sync, "loss": history["loss"]}
print(json.dumps(results))
"""


def test_mirrored_over_two_cpus_matches_one_device(tmp_path):
    result = run_python(["-c", SCRIPT, str(tmp_path)], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
    # measured: the two loss curves agree to 1e-7; each replica gets half of every global batch of 64
    for one, two in zip(runs["default"]["loss"], runs["mirrored"]["loss"]):
        assert abs(one - two) <= 1e-4 * one
    assert runs["mirrored"]["loss"][1] < runs["mirrored"]["loss"][0]
