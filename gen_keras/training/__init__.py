"""Training shared by every recipe.

- `trainer`: `setup(args)` (seeds, precision, batch size, strategy) and the resumable `fit`;
- `checkpoints`: the backup a re-run resumes from, the best weights, the per-epoch history;
- `distribution`: one device, mirrored GPUs (or logical CPUs), or several machines from `$TF_CONFIG`.

A recipe calls `training.setup(args)` first and `training.fit(...)` to train.
"""

from gen_keras.training.checkpoints import read_history
from gen_keras.training.trainer import TrainingSetup, cosine_adam, fit, set_seed, setup, steps_per_epoch, sub_run

__all__ = ["TrainingSetup", "cosine_adam", "fit", "read_history", "set_seed", "setup", "steps_per_epoch", "sub_run"]
