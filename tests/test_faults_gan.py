"""A GAN killed with SIGKILL in the middle of an epoch resumes, with both optimizers' state and the noise
stream, to exactly the weights of an uninterrupted run (the trainer's path every GAN recipe takes)."""

import json

import pytest

from tests.conftest import run_python
from tests.test_faults import TIMEOUT, history_rows, reference_and_killed

pytestmark = pytest.mark.slow  # a training in a subprocess, killed and resumed

SCRIPT = """
import hashlib, json, sys
from gen_keras import cli, data, training

args = cli.parse_args(cli.recipe_parser("t", epochs=2), ["--batch-size", "32", "--seed", "3", "--no-export",
                      "--out", sys.argv[1]], "gan_fault_test")
run = training.setup(args)
import keras
import numpy as np
from gen_keras.models.gan import GAN, mlp_discriminator, mlp_generator

with run.strategy.scope():
    gan = GAN(mlp_generator(16), mlp_discriminator(), seed=3)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), **run.compile_options())
history = training.fit(gan, data.load_images(limit=2000), None, run, 2, targets=None, monitor=None, verbose=0)
weights = b"".join(np.asarray(w).tobytes() for w in gan.weights)
print(json.dumps({"sha256": hashlib.sha256(weights).hexdigest(), "d_loss": history["d_loss"]}))
"""


def test_gan_sigkill_mid_epoch_resumes_exactly(tmp_path):
    reference, killed, stdout = reference_and_killed(lambda out: ["-c", SCRIPT, str(out)], tmp_path)
    whole = json.loads(stdout.strip().splitlines()[-1])
    result = run_python(["-c", SCRIPT, str(killed)], timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from the saved state" in result.stdout
    assert [int(r["epoch"]) for r in history_rows(killed)] == [0, 1]
    assert history_rows(killed) == history_rows(reference)
    resumed = json.loads(result.stdout.strip().splitlines()[-1])
    assert resumed == whole  # the same weights, bit for bit, and the same per-epoch losses
