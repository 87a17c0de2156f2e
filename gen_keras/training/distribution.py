"""Where training runs: one device, every local GPU (or logical CPU), or several machines from `$TF_CONFIG`."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from gen_keras.errors import GenKerasError

def gpu_count() -> int:
    """The number of GPUs TensorFlow sees (logical devices)."""
    return len(tf.config.list_logical_devices("GPU"))


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` also takes nested values and per-replica scalars with
    `axis=0`: Keras 3's `fit` passes both (keras-team/keras#20585) and the stock strategy raises."""

    def reduce(self, reduce_op, value, axis):
        def one(v):
            t = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
            rank = getattr(getattr(t, "shape", None), "rank", None)
            return super(_MultiWorkerMirroredStrategy, self).reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)


def tf_config() -> dict:
    """The cluster and this process's task from `$TF_CONFIG`, checked.

    Returns:
        The parsed config: {"cluster": {"worker": ["host:port", …], ["chief": […]]}, "task": {"type", "index"}}.

    Raises:
        GenKerasError: `$TF_CONFIG` is missing, not JSON, or not a valid cluster and task (the message says
            how to set it).
    """
    how = (f"Set it on every machine to the same cluster and that machine's own task, e.g. "
           f"TF_CONFIG='{TF_CONFIG_EXAMPLE}' on the first and index 1 on the second; or use --strategy "
           "mirrored for the GPUs of one machine.")
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        raise GenKerasError("--strategy multiworker reads the cluster from the TF_CONFIG environment "
                            f"variable, which is not set. {how}")
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise GenKerasError(f"TF_CONFIG is not valid JSON ({e}). {how}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise GenKerasError(f"TF_CONFIG needs a \"cluster\" and a \"task\" object; it is {raw}. {how}")
    for job, hosts in cluster.items():
        if job not in ("chief", "worker"):
            raise GenKerasError(f"TF_CONFIG's cluster has a '{job}' job; --strategy multiworker takes only "
                                f"'worker' (and optionally one 'chief'). {how}")
        if (not isinstance(hosts, list) or not hosts
                or not all(isinstance(h, str) and h.rpartition(":")[2].isdigit() for h in hosts)):
            raise GenKerasError(f"TF_CONFIG's '{job}' list must hold \"host:port\" strings; it is {hosts!r}. {how}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise GenKerasError(f"TF_CONFIG's task {task} is not one of its cluster's tasks {cluster}: the type "
                            "must name a job there and the index count from 0. " + how)
    return config


def is_chief_task(config: dict) -> bool:
    """TensorFlow's rule for the chief: the `chief` task if the cluster has one, else worker 0.

    Args:
        config: a checked `$TF_CONFIG` (`tf_config()`).

    Returns:
        Whether this process is the chief.
    """
    kind, index = config["task"]["type"], config["task"]["index"]
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config["cluster"])


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` named by --strategy.

    Args:
        name: `default` (one device), `mirrored` (every local GPU, or every logical CPU when there are
            none), `multiworker` (`MultiWorkerMirroredStrategy` over the machines in `$TF_CONFIG`, each
            machine's GPUs or its CPU), or `auto`: mirrored when more than one GPU is visible, else default.

    Returns:
        The strategy.

    Raises:
        GenKerasError: multiworker with a missing or wrong `$TF_CONFIG`, or after TensorFlow has started.
        ValueError: an unknown name.
    """
    if name == "multiworker":
        tf_config()
        try:
            return _MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as e:
            if "startup" not in str(e):
                raise
            raise GenKerasError("--strategy multiworker must be set up before TensorFlow runs anything "
                                f"({e}): call gen_keras.training.setup(args) before loading data or building models.") from e
    if name == "auto":
        name = "mirrored" if gpu_count() > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"unknown strategy '{name}': use auto, default, mirrored or multiworker")
