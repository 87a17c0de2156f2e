"""--strategy multiworker: two worker processes on 127.0.0.1 train like one process, and end with the same
weights; only the chief keeps files; TF_CONFIG mistakes are one clear error."""

import json
import os
import socket
import subprocess
import sys

import pytest

from gen_keras.errors import GenKerasError
from tests.conftest import ROOT

SCRIPT = """
import hashlib, json, sys
from gen_keras import cli, data, training

strategy, out = sys.argv[1], sys.argv[2]
args = cli.parse_args(cli.recipe_parser("t", epochs=2), ["--strategy", strategy, "--batch-size", "64",
                      "--seed", "1", "--out", out, "--export-dir", out + "/saved_models"], "t")
run = training.setup(args)  # first: the multi-worker strategy must start before TensorFlow runs anything
import keras
import numpy as np
from gen_keras.models.autoencoders import conv_autoencoder

with run.strategy.scope():
    parts = conv_autoencoder("improved")
    parts.autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", **run.compile_options())
train, val = data.hold_out(data.load_images(limit=512))  # 43 validation images: less than one batch
if strategy == "default":  # two replicas validate on 42 (a replica never gets an empty share): compare alike
    val = val.head(42)
history = training.fit(parts.autoencoder, train, val, run, 2, verbose=0)
weights = b"".join(np.asarray(w).tobytes() for w in parts.autoencoder.weights)
print(json.dumps({"replicas": run.strategy.num_replicas_in_sync, "chief": run.is_chief, "out": str(run.out),
                  "export_dir": str(run.export_dir), "flag_export_dir": args.export_dir, "loss": history["loss"], "val_loss": history["val_loss"],
                  "sha256": hashlib.sha256(weights).hexdigest()}))
"""


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_end_with_the_same_weights_as_one_process(tmp_path):
    hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "multiworker", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**env, "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, "default", str(tmp_path / "single")], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    try:
        results = []
        for proc in procs:  # the two workers, then one process alone (run meanwhile)
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, stderr[-3000:]
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    chief, other, one = results
    assert chief["replicas"] == other["replicas"] == 2 and one["replicas"] == 1
    assert chief["sha256"] == other["sha256"]  # every step's gradients were all-reduced across the workers
    assert len(chief["loss"]) == 2 and chief["loss"] == other["loss"]
    assert chief["val_loss"] == other["val_loss"]
    for a, b in zip(chief["loss"] + chief["val_loss"], one["loss"] + one["val_loss"]):  # measured: ~1e-7 apart
        assert abs(a - b) <= 1e-4 * b
    # only the chief's files are kept: worker 1 wrote into <out>/workertemp_1, removed when it finished
    assert chief["chief"] and not other["chief"]
    assert chief["out"] == str(out) and other["out"] == str(out / "workertemp_1")
    assert other["export_dir"] == str(out / "workertemp_1" / "saved_models")
    assert other["flag_export_dir"] == str(out / "saved_models")  # the parsed flags are left as they were
    assert not (out / "workertemp_1").exists() and not (out / "backup").exists()
    assert len((out / "history.csv").read_text().splitlines()) == 3
    assert (out / "checkpoints" / "best.weights.h5").exists()


@pytest.mark.parametrize("tf_config, message", [
    (None, "TF_CONFIG environment variable, which is not set"),
    ("{cluster: 1}", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', 'needs a "cluster" and a "task"'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["a:2"]}, "task": {"type": "worker", "index": 0}}', "a 'ps' job"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', '"host:port" strings'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "not one of its cluster's"),
])
def test_tf_config_mistakes_are_one_clear_error(tf_config, message, monkeypatch):
    """Checked before the strategy is created, so nothing starts listening on a port."""
    from gen_keras.training import distribution

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(GenKerasError, match="TF_CONFIG") as e:
        distribution.make_strategy("multiworker")
    assert message in str(e.value) and "--strategy mirrored" in str(e.value)


def test_chief_rule():
    from gen_keras.training.distribution import is_chief_task

    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief_task({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not is_chief_task({"cluster": workers, "task": {"type": "worker", "index": 1}})
    with_chief = {"chief": ["c:1"], **workers}
    assert is_chief_task({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
    assert not is_chief_task({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
