"""How close is each family's training step to this CPU's limit, and is it as fast as the keras.io way?

For the default training step of each family (the recipes' networks, batch sizes and losses, read from
their own `--help` defaults), in one process:
  - FLOPs per step, counted from the step's traced graph (`_flops.py`: every matmul and convolution,
    forward and backward, 2 FLOPs a multiply-add, taps on padding included; element-wise ops left out);
  - this machine's rates (float32; bfloat16 with `--bf16`): a 2048×2048 matmul and a 3×3 convolution
    (batch 128, 28×28, 64 → 64 channels), both through TensorFlow;
  - the bound: matmul FLOPs at the matmul rate + convolution FLOPs at the convolution rate;
  - the step's median wall time in `fit` (from the batch's start to its end, the library's input pipeline
    feeding it), and the ratio step ÷ bound;
  - the same networks trained by the keras.io example's plain `train_step` (`_plain_steps.py`), timed the
    same way, rounds alternating with the library's so background load hits both alike.
With `--profile`, one extra round of each library step runs under TensorFlow's profiler: the time its ops
took per step on the executor threads, dense (convolutions, matmuls) and the rest, against the two cores'
wall time.

Levers: `--variants many_steps_a_call xla bf16` times variants of the library's step in the same process,
rounds alternating (as many steps a call into TensorFlow as divide the default run's epoch, up to 16; XLA;
mixed bfloat16). Levers that are
process-wide take a run each and compare across processes, where the same command's step drifts by up to
15% here: `--inter-op 1` (one op at a time, each using every core), `--no-determinism` (the recipes make
TensorFlow's ops deterministic), `--jit`, `--bf16`, `--steps-per-execution N`.

    python benchmarks/step_efficiency.py --profile --variants many_steps_a_call xla bf16 --json step_efficiency.json
    python benchmarks/step_efficiency.py --families dcgan vae --inter-op 1
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time

FAMILIES = ("conv_autoencoder", "vae", "dcgan", "wgan_gp", "pixelcnn", "realnvp", "diffusion")
RECIPE_OF = {"wgan_gp": ("wgan", ["--gradient-penalty", "10"]), "realnvp": ("flows", [])}
# in-process variants of the library's step: (steps per call, None for the library's, "divisor" for the
# largest divisor of the default run's epoch up to 16; XLA; dtype policy)
VARIANTS = {"many_steps_a_call": ("divisor", False, None), "xla": (None, True, None),
            "bf16": (None, False, "mixed_bfloat16")}
# the default runs' training images: 55,000 where the recipe holds out a validation twelfth, else 60,000
TRAINING_IMAGES = {"conv_autoencoder": 55_000, "vae": 55_000, "dcgan": 60_000, "wgan_gp": 60_000,
                   "pixelcnn": 55_000, "realnvp": 55_000, "diffusion": 55_000}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    p.add_argument("--steps", type=int, default=24, help="timed steps per round (at least two calls)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per step (library and plain alternate)")
    p.add_argument("--images", type=int, default=6400, help="Fashion-MNIST training images to draw batches from")
    p.add_argument("--no-plain", action="store_true", help="time the library's steps only")
    p.add_argument("--profile", action="store_true", help="add a profiled round: where each step's time goes")
    p.add_argument("--inter-op", type=int, default=None, help="TensorFlow's inter-op threads (default: its own)")
    p.add_argument("--intra-op", type=int, default=None, help="TensorFlow's intra-op threads (default: its own)")
    p.add_argument("--no-determinism", action="store_true", help="leave TensorFlow's ops non-deterministic")
    p.add_argument("--jit", action="store_true", help="compile both steps with XLA")
    p.add_argument("--bf16", action="store_true", help="mixed bfloat16 for both")
    p.add_argument("--steps-per-execution", type=int, default=1,
                   help="training steps per call into TensorFlow, for both (timed per step); default 1, as the "
                        "recipes run on CPU and the keras.io examples do")
    p.add_argument("--variants", nargs="*", default=[], choices=tuple(VARIANTS),
                   help="more variants of the library's step, timed in the same process with the rounds "
                        "alternating (levers compared across processes drift by up to 15%% here)")
    p.add_argument("--json", help="write every number to this file")
    return p.parse_args()


def recipe_defaults(family: str):
    """The recipe's parsed default flags (what `python recipes/<recipe>.py` would run with)."""
    recipe, argv = RECIPE_OF.get(family, (family, []))
    spec = importlib.util.spec_from_file_location(f"recipe_{recipe}", os.path.join(ROOT, "recipes", f"{recipe}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse(argv)


def batch_of(family: str, a) -> int:
    """The default run's global batch (WGAN-GP: k critic minibatches)."""
    return a.default_batch_size * (a.k if family == "wgan_gp" else 1)


def build(family: str, images, a, plain: bool, jit: bool, steps_per_execution: int = 1):
    """(model, batch size, how its batches are made): the library's model as the recipe builds it, or the
    keras.io-style one on a fresh copy of the same networks."""
    import keras

    from _plain_steps import PlainDCGAN, PlainDiffusion, PlainFlow, PlainPixelCNN, PlainVAE, PlainWGANGP
    from gen_keras import gan_recipe
    from gen_keras.models import schedules

    batch = a.default_batch_size
    options = {"jit_compile": jit, "steps_per_execution": steps_per_execution}
    if family == "conv_autoencoder":
        from gen_keras.models.autoencoders import conv_autoencoder
        model = conv_autoencoder(a.model).autoencoder
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", **options)
        return model, batch, "pairs"
    if family == "vae":
        from gen_keras.models.vae import build_vae
        vae = build_vae(a.latent_dim, a.likelihood, decoder=a.decoder, binarize=a.binarize, seed=0)
        model = PlainVAE(vae.encoder, vae.decoder) if plain else vae
        model.compile(optimizer=keras.optimizers.Adam(a.learning_rate), **options)
        return model, batch, "images"
    if family == "dcgan":
        from gen_keras.models.gan import GAN, dcgan_discriminator, dcgan_generator
        g, d = dcgan_generator(a.latent_dim, a.filters), dcgan_discriminator()
        if plain:
            model = PlainDCGAN(g, d, a.latent_dim)
            model.compile(gan_recipe.adam(a.learning_rate), gan_recipe.adam(a.learning_rate), **options)
        else:
            model = GAN(g, d, seed=0)
            model.compile(d_optimizer=gan_recipe.adam(a.learning_rate), g_optimizer=gan_recipe.adam(a.learning_rate),
                          generator_loss="non_saturating", **options)
        return model, batch, "images"
    if family == "wgan_gp":
        from gen_keras.models.gan import dcgan_discriminator, dcgan_generator
        from gen_keras.models.wgan import WGAN
        g, d = dcgan_generator(a.latent_dim), dcgan_discriminator(batch_norm=False)

        def adam():
            return keras.optimizers.Adam(a.learning_rate, beta_1=0.5, beta_2=0.9)
        if plain:
            model = PlainWGANGP(g, d, a.latent_dim, d_steps=a.k, gp_weight=a.gradient_penalty)
            model.compile(adam(), adam(), **options)
        else:
            model = WGAN(g, d, seed=0)
            model.compile(d_optimizer=adam(), g_optimizer=adam(), k=a.k, clip=None, gp_weight=a.gradient_penalty,
                          **options)
        return model, batch * a.k, "images"  # k critic minibatches of m per step
    if family == "pixelcnn":
        from gen_keras.models.pixelcnn import build_pixelcnn
        if plain:
            model = PlainPixelCNN(build_pixelcnn(a.blocks, a.filters, binarize=None, seed=0))
        else:
            model = build_pixelcnn(a.blocks, a.filters, binarize=a.binarize, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(a.learning_rate), **options)
        return model, batch, "binary" if plain else "images"
    if family == "realnvp":
        from gen_keras.models.flows import image_flow
        flow = image_flow((28, 28, 1), a.couplings, a.units, seed=0)
        flow.initialize(images[:512])
        model = PlainFlow(flow) if plain else flow
        model.compile(optimizer=keras.optimizers.Adam(a.learning_rate), **options)
        return model, batch, "images"
    if family == "diffusion":
        from gen_keras.models.diffusion import build_diffusion
        diffusion = build_diffusion(a.widths, a.blocks, attention=not a.no_attention, schedule=a.schedule,
                                    timesteps=a.timesteps, ema_decay=a.ema_decay, seed=0, prediction=a.prediction,
                                    min_snr_gamma=a.min_snr_gamma or None)
        if plain:
            alpha_bars = schedules.alpha_bars(schedules.noise_schedule(a.schedule, a.timesteps))
            weights = schedules.loss_weights(alpha_bars, a.prediction, a.min_snr_gamma or None)
            model = PlainDiffusion(diffusion.network, diffusion.ema_network, alpha_bars, weights, a.ema_decay)
        else:
            model = diffusion
        model.compile(optimizer=keras.optimizers.Adam(a.learning_rate), **options)
        return model, batch, "images"
    raise ValueError(family)


def dataset(arrays, batch: int, kind: str, plain: bool):
    """The library's pipeline (`gen_keras.data.make_dataset`, what the recipes feed `fit`), or keras.io's:
    `from_tensor_slices` of the float images, shuffled and batched."""
    import numpy as np
    import tensorflow as tf

    from gen_keras import data

    if not plain:
        return data.make_dataset(arrays, batch, targets="images" if kind == "pairs" else None, seed=0, repeat=True)
    x = arrays.as_float()
    if kind == "binary":
        x = (np.random.default_rng(0).random(x.shape, dtype=np.float32) < x).astype(np.float32)
    elements = (x, x) if kind == "pairs" else x
    return tf.data.Dataset.from_tensor_slices(elements).shuffle(len(x)).batch(batch, drop_remainder=True).repeat()


def median_step_ms(model, ds, steps: int, steps_per_execution: int = 1) -> float:
    """The median wall time of one training step in `fit` (one call into TensorFlow runs
    `steps_per_execution` of them)."""
    from _timing import StepTimer
    timer = StepTimer()
    calls = max(2, -(-steps // steps_per_execution))  # at least `steps` steps, in whole calls
    model.fit(ds, epochs=1, steps_per_epoch=calls * steps_per_execution, verbose=0, callbacks=[timer])
    return statistics.median(timer.steps[0]) * 1e3 / steps_per_execution


def _rate(op, flops: float, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        op().numpy()
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times[1:]) / 1e9


def dense_rates(dtype: str = "float32", repeats: int = 10) -> dict:
    """Median GFLOP/s in TensorFlow of a 2048×2048 matmul and of a 3×3 convolution (batch 128 at 28×28,
    64 → 64 channels), in `dtype`."""
    import tensorflow as tf
    a, b = tf.random.normal((2048, 2048), dtype=dtype), tf.random.normal((2048, 2048), dtype=dtype)
    x, k = tf.random.normal((128, 28, 28, 64), dtype=dtype), tf.random.normal((3, 3, 64, 64), dtype=dtype)
    conv = tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME"))
    return {"matmul": _rate(lambda: tf.linalg.matmul(a, b), 2 * 2048 ** 3, repeats),
            "conv": _rate(conv, 2 * 128 * 28 * 28 * 9 * 64 * 64, repeats)}


DENSE_OPS = ("Conv2D", "MatMul", "Einsum")  # any op whose type holds one of these (oneDNN's _MklNative… too)
CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall", "While", "StatelessWhile", "If", "StatelessIf")


def _union_ps(spans) -> int:
    """The length of the union of (begin, end) intervals."""
    total, end = 0, None
    for begin, stop in sorted(spans):
        if end is None or begin > end:
            total, end = total + stop - begin, stop
        elif stop > end:
            total, end = total + stop - end, stop
    return total


def profile_step(model, ds, calls: int, steps_per_call: int = 1) -> dict:
    """Runs `calls` calls of `steps_per_call` steps under TensorFlow's profiler and sums, per op type, the time
    ops took on the executor threads. Returns ms per step: wall, the time at least one op ran (and at least one dense op),
    and the op types that took the most thread time."""
    import collections

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="step_profile_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    steps = calls * steps_per_call
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    by_type = collections.Counter()
    spans = {"all": [], "dense": []}
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_inter_op")):
                continue
            for event in line.events:
                name = names[event.metadata_id].name
                if "::" in name or ":" not in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                if op_type in CALL_OPS:
                    continue
                by_type[op_type] += event.duration_ps / 1e9  # ms
                begin = line.timestamp_ns * 1000 + event.offset_ps
                span = (begin, begin + event.duration_ps)
                spans["all"].append(span)
                if any(d in op_type for d in DENSE_OPS):
                    spans["dense"].append(span)
    busy = {kind: _union_ps(found) / 1e9 for kind, found in spans.items()}
    return {"wall_ms": wall * 1e3 / steps, "any_op_running_ms": busy["all"] / steps,
            "dense_op_running_ms": busy["dense"] / steps,
            "top_ops_ms": {k: round(v / steps, 2) for k, v in by_type.most_common(8)}}


def main():
    a = parse()
    import tensorflow as tf
    if a.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(a.inter_op)
    if a.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(a.intra_op)
    import keras

    from _flops import function_flops
    from _timing import machine
    from gen_keras import data, training

    if a.no_determinism:
        keras.utils.set_random_seed(0)
    else:
        training.set_seed(0)  # as every recipe does: deterministic ops
    if a.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    arrays = data.load_images("fashion_mnist", "train", limit=a.images)
    images = arrays.as_float()
    levers = {k: getattr(a, k) for k in ("inter_op", "intra_op", "no_determinism", "jit", "bf16", "steps_per_execution")}
    print(f"{machine()}; TensorFlow {tf.__version__}; threads inter-op "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} intra-op "
          f"{tf.config.threading.get_intra_op_parallelism_threads()} (0: TensorFlow's choice); levers {levers}")
    dtype = "bfloat16" if a.bf16 else "float32"
    rates = dense_rates(dtype)
    print(f"{dtype} rates: matmul 2048² {rates['matmul']:.0f} GFLOP/s, conv 3×3 64→64 at 28×28 "
          f"{rates['conv']:.0f} GFLOP/s", flush=True)
    bf16_rates = dense_rates("bfloat16") if "bf16" in a.variants else None
    if bf16_rates:
        print(f"bfloat16 rates: matmul {bf16_rates['matmul']:.0f} GFLOP/s, conv {bf16_rates['conv']:.0f} GFLOP/s")

    rows = []
    for family in a.families:
        args = recipe_defaults(family)
        library_per_call = a.steps_per_execution
        epoch = TRAINING_IMAGES[family] // batch_of(family, args)
        divisor = max(d for d in range(1, 17) if epoch % d == 0)  # the same epoch in fewer calls
        # name: (keras.io-style, steps per call, XLA, dtype policy)
        variants = {"library": (False, library_per_call, a.jit, None)}
        if not a.no_plain:
            variants["plain"] = (True, a.steps_per_execution, a.jit, None)
        for name in a.variants:
            per, jit, policy = VARIANTS[name]
            variants[name] = (False, divisor if per == "divisor" else library_per_call, jit or a.jit, policy)
        per_call = {name: v[1] for name, v in variants.items()}
        built = {}
        for name, (plain, per, jit, policy) in variants.items():
            before = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy(policy or before)
            try:
                built[name] = build(family, images, args, plain, jit, per)
            finally:
                keras.mixed_precision.set_global_policy(before)
        batch, kind = built["library"][1], built["library"][2]
        streams = {name: dataset(arrays, batch, built[name][2], v[0]) for name, v in variants.items()}
        for name in variants:  # compiles each step
            built[name][0].fit(streams[name], epochs=1, steps_per_epoch=2 * per_call[name], verbose=0)
        times = {name: [] for name in variants}
        for _ in range(a.rounds):
            for name in variants:
                times[name].append(median_step_ms(built[name][0], streams[name], a.steps, per_call[name]))
        model = built["library"][0]
        sample = tf.constant(images[:batch])
        step = (lambda x: model.train_step((x, x))) if kind == "pairs" else model.train_step
        flops = function_flops(step, sample)
        bound_ms = (flops["matmul"] / rates["matmul"] + flops["conv"] / rates["conv"]) / 1e6
        row = {"family": family, "batch": batch, "steps_per_execution": per_call, "gflop": (flops["matmul"] + flops["conv"]) / 1e9,
               "gflop_matmul": flops["matmul"] / 1e9, "gflop_conv": flops["conv"] / 1e9,
               "flops_by_op": flops["by_op"], "loops_counted_once": flops["loops"], "bound_ms": bound_ms,
               "library_ms": statistics.median(times["library"]), "library_rounds_ms": times["library"]}
        row["ratio_to_bound"] = row["library_ms"] / bound_ms
        for name in variants:
            if name != "library":
                row[f"{name}_ms"] = statistics.median(times[name])
                row[f"{name}_rounds_ms"] = times[name]
                row[f"library_speed_vs_{name}"] = row[f"{name}_ms"] / row["library_ms"]
        if "plain" in times:
            row["speed_vs_plain"] = row["library_speed_vs_plain"]
        if bf16_rates:
            row["bf16_bound_ms"] = (flops["matmul"] / bf16_rates["matmul"] + flops["conv"] / bf16_rates["conv"]) / 1e6
            row["bf16_ratio_to_bound"] = row["bf16_ms"] / row["bf16_bound_ms"]
        if a.profile:
            row["profile"] = profile_step(model, streams["library"], max(2, -(-a.steps // per_call["library"])),
                                          per_call["library"])
            if "plain" in built:
                row["plain_profile"] = profile_step(built["plain"][0], streams["plain"],
                                                    max(2, -(-a.steps // per_call["plain"])), per_call["plain"])
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                          if k not in ("flops_by_op",)}), flush=True)

    print("\n| family | batch | GFLOP a step (matmul + conv) | bound | library step | ÷ bound | keras.io-style step "
          "| library speed ÷ keras.io's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        plain = (f"{r['plain_ms']:.1f} ms | {r['speed_vs_plain']:.2f}×" if "plain_ms" in r else "– | –")
        print(f"| {r['family']} | {r['batch']} | {r['gflop']:.2f} ({r['gflop_matmul']:.2f} + {r['gflop_conv']:.2f}) "
              f"| {r['bound_ms']:.1f} ms | {r['library_ms']:.1f} ms | {r['ratio_to_bound']:.2f}× | {plain} |")
    if a.variants:
        print("\n| family | library step | " + " | ".join(f"{v} (its speed ÷ the library's)" for v in a.variants) + " |")
        print("|---|---:|" + "---:|" * len(a.variants))
        for r in rows:
            cells = " | ".join(f"{r[f'{v}_ms']:.1f} ms ({r[f'{v}_ms'] and r['library_ms'] / r[f'{v}_ms']:.2f}×)"
                              for v in a.variants)
            print(f"| {r['family']} | {r['library_ms']:.1f} ms | {cells} |")
    if a.profile:
        print("\n| family | profiled wall a step | a dense op running | only other ops running | no op running "
              "| op types by thread time (ms a step) |")
        print("|---|---:|---:|---:|---:|---|")
        for r in rows:
            for name, p in (("", r["profile"]), (" (keras.io-style)", r.get("plain_profile"))):
                if p is None:
                    continue
                wall, dense, busy = p["wall_ms"], p["dense_op_running_ms"], p["any_op_running_ms"]
                top = ", ".join(f"{k} {v:.1f}" for k, v in list(p["top_ops_ms"].items())[:5])
                print(f"| {r['family']}{name} | {wall:.1f} ms | {dense / wall:.0%} ({dense:.1f} ms) "
                      f"| {(busy - dense) / wall:.0%} | {(wall - busy) / wall:.0%} | {top} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "tensorflow": tf.__version__, "levers": levers, "rates_gflops": rates,
                       "bf16_rates_gflops": bf16_rates,
                       "steps_per_round": a.steps, "rounds": a.rounds, "rows": rows, "command": " ".join(sys.argv)},
                      f, indent=1)


if __name__ == "__main__":
    main()
