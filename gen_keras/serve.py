"""`python -m gen_keras.serve`: sends codes or latent vectors to a model TF Serving serves, or asks a sampling
signature for images, and writes the images as a PNG grid (the requests go through `gen_keras.serving.client`).

    python -m gen_keras.serve --rest http://localhost:8501 --model conv_autoencoder_decoder --random 16
    python -m gen_keras.serve --grpc localhost:8500 --model conv_autoencoder_decoder --interpolate 0 1
    python -m gen_keras.serve --rest http://localhost:8501 --model diffusion_diffusion --signature sample --samples 16
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from gen_keras.cli import non_negative_int, positive_int
from gen_keras.errors import GenKerasError, ServingError
from gen_keras.serving.client import (NUMPY_DTYPES, SIGNATURE, TIMEOUT, model_metadata, model_text, predict,
                                      predict_grpc, predict_rest)
from gen_keras.serving.signatures import TensorInfo, fits


def _predict(args, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if args.grpc:
        return predict_grpc(args.grpc, model, inputs, args.version, signature=args.signature, timeout=args.timeout)
    return predict_rest(args.rest, model, inputs, args.version, args.format, signature=args.signature,
                        timeout=args.timeout)


def _served_input(args, model: str, input_name: str | None) -> tuple[str, TensorInfo]:
    """The name and the shape of the model's one input, from the server's metadata."""
    signatures = model_metadata(args.grpc or args.rest, model, args.version,
                                transport="grpc" if args.grpc else "rest", timeout=args.timeout)
    sig = signatures.get(args.signature)
    if sig is None:
        raise ServingError(f"{model_text(model, args.version)} has no signature '{args.signature}'; it has "
                           f"{sorted(signatures)} (--signature)")
    if input_name is None and len(sig.inputs) != 1:
        raise ServingError(f"{model_text(model, args.version)} takes inputs {sorted(sig.inputs)}; this client sends "
                           "one: name it with --input-name")
    input_name = input_name or next(iter(sig.inputs))
    if input_name not in sig.inputs:
        raise ServingError(f"{model_text(model, args.version)} has no input '{input_name}'; its signature "
                           f"'{args.signature}' takes {sorted(sig.inputs)} (--input-name)")
    return input_name, sig.inputs[input_name]


def _checked(array: np.ndarray, name: str, info: TensorInfo, model: str, what: str) -> np.ndarray:
    if info.shape is not None and array.ndim == len(info.shape) - 1:
        array = array[None]  # a single item: make it a batch of one
    if not fits(info, array.shape):
        raise ServingError(f"the {what} have shape {list(array.shape)}, but {model}'s input '{name}' takes "
                           f"{info.shape} (-1: any size); nothing was sent")
    return array.astype(NUMPY_DTYPES.get(info.dtype, array.dtype), copy=False)


def _pick_output(outputs: dict[str, np.ndarray], model: str, preferred: tuple[str, ...]) -> np.ndarray:
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    for name in preferred:
        if name in outputs:
            return outputs[name]
    raise ServingError(f"{model} returns outputs {sorted(outputs)}; expected one of {list(preferred)}")


def _load_codes(path: str) -> np.ndarray:
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ServingError(f"cannot read codes from {path} ({e}). Give a .npy file written by numpy.save, "
                           "holding a float array of shape (number of codes, code size).") from None
    if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.number) or codes.size == 0:
        raise ServingError(f"{path} holds no array of numbers ({getattr(codes, 'dtype', type(codes).__name__)}); give "
                           "a float array of shape (number of codes, code size) saved with numpy.save.")
    return codes.astype(np.float32)


def _interpolation(args) -> tuple[np.ndarray, np.ndarray]:
    """The test images A and B, and the line between their codes, as the served encoder computes them."""
    from gen_keras import data

    test = data.load_images("fashion_mnist", "test")
    for index in args.interpolate:
        if not index < len(test):
            raise ServingError(f"--interpolate takes Fashion-MNIST test-image indices 0 to {len(test) - 1}, "
                               f"got {index}")
    images = test.images[list(args.interpolate)].astype(np.float32) / 255.0
    encoder = args.encoder_model or (args.model.replace("decoder", "encoder") if "decoder" in args.model else None)
    if encoder is None:
        raise ServingError(f"--interpolate asks an encoder for the images' codes; name it with --encoder-model "
                           f"(no 'decoder' in --model {args.model} to derive it from)")
    name, info = _served_input(args, encoder, None)
    images = _checked(images, name, info, encoder, "test images")
    codes = _pick_output(_predict(args, encoder, {name: images}), encoder, ("code", "mean", "z"))
    t = np.linspace(0.0, 1.0, args.steps, dtype=np.float32).reshape(-1, *[1] * (codes.ndim - 1))
    return images, (1 - t) * codes[0] + t * codes[1]


def _write_grid(images: np.ndarray, ends: np.ndarray | None, args) -> None:
    from gen_keras import plots

    try:
        if ends is not None and ends.shape[1:] == images.shape[1:]:
            row = np.concatenate([ends[:1], images, ends[1:]])
            a, b = args.interpolate
            plots.image_rows([row], [""], args.out,
                             f"test images {a} and {b}; between: {args.model}((1-t) code({a}) + t code({b}))")
        else:
            source = (f"{len(images)} samples from '{args.signature}'"
                      + "".join(f", {k} = {v:g}" for k, v in args.set) if args.samples else
                      f"{len(images)} standard-normal codes, seed {args.seed}" if args.random else
                      f"codes from {os.path.basename(args.from_file)}" if args.from_file else
                      "the line between test images {} and {}".format(*args.interpolate))
            plots.image_grid(images, args.out, columns=min(10, len(images)), title=f"{args.model}: {source}")
    except OSError as e:
        raise ServingError(f"cannot write {args.out} ({e.strerror or e}); choose a writable --out") from None


def run(args: argparse.Namespace) -> np.ndarray:
    """Sends the codes the flags describe to the served model and writes its images to `args.out` as a PNG grid.

    The codes are --random draws from N(0, I) (their size from the server's metadata), a --from-file array,
    or the line between two test images' codes from the served encoder (--interpolate). With --samples, the
    images come from a sampling signature instead (`num_samples`, the --set inputs, the rest at their defaults).

    Args:
        args: the parsed flags (`parse`).

    Returns:
        The images, (n, H, W, C).

    Raises:
        ServingError: any failure of the request, the inputs or the output file.
        DataError: --interpolate, and Fashion-MNIST's test split cannot be loaded.
    """
    ends = codes = None
    if args.samples:
        outputs = predict(args.grpc or args.rest, args.model, {"num_samples": args.samples, **dict(args.set)},
                          args.version, signature=args.signature, transport="grpc" if args.grpc else "rest",
                          timeout=args.timeout)
        images = _pick_output(outputs, args.model, ("image", "x"))
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise ServingError(f"{args.model}'s signature '{args.signature}' returned an output of shape "
                               f"{list(images.shape)}, not images")
        _write_grid(images, None, args)
        return images
    if args.interpolate:
        ends, codes = _interpolation(args)
    elif args.from_file:
        codes = _load_codes(args.from_file)
    name, info = args.input_name, None
    if name is None or args.random:  # --input-name alone skips the metadata; the server then checks shapes
        name, info = _served_input(args, args.model, name)
    if args.random:
        if info.shape is None or any(d < 0 for d in info.shape[1:]):
            raise ServingError(f"{args.model}'s input '{name}' has shape {info.shape}: no fixed size to draw "
                               "--random codes for; use --from-file")
        codes = np.random.default_rng(args.seed).standard_normal((args.random, *info.shape[1:]))
    if info is not None:
        codes = _checked(codes, name, info, args.model, "codes")
    elif codes.ndim == 1:
        codes = codes[None]  # a single code: a batch of one
    images = _pick_output(_predict(args, args.model, {name: codes}), args.model, ("image",))
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ServingError(f"{args.model} returned an output of shape {list(images.shape)}, not images; is --model "
                           "a decoder or generator?")
    _write_grid(images, ends, args)
    return images


def _scalar_input(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, e.g. steps=20, got {text!r}") from None
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, e.g. steps=20, got {text!r}")
    return name, int(number) if number.is_integer() and "." not in value else number


def parse(argv=None) -> argparse.Namespace:
    """Parses the client's flags.

    Args:
        argv: the flags; None for `sys.argv[1:]`.

    Returns:
        The `argparse.Namespace` (`format` set to "instances" when not given); bad flags exit with status 2.
    """
    parser = argparse.ArgumentParser(prog="python -m gen_keras.serve", description=__doc__.split("\n\n")[0])
    server = parser.add_mutually_exclusive_group(required=True)
    server.add_argument("--rest", metavar="URL", help="TF Serving's REST address, e.g. http://localhost:8501")
    server.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving's gRPC address, e.g. localhost:8500")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--random", type=positive_int, metavar="N", help="N codes drawn from a standard normal")
    source.add_argument("--from-file", metavar="CODES.npy", help="codes saved with numpy.save, shape (n, code size)")
    source.add_argument("--interpolate", nargs=2, type=non_negative_int, metavar=("A", "B"),
                        help="two Fashion-MNIST test-image indices: the served encoder gives their codes, the "
                             "decoder the line between them")
    source.add_argument("--samples", type=positive_int, metavar="N",
                        help="N images from a sampling signature (--signature, e.g. sample): it is sent "
                             "num_samples = N and the --set inputs; its other inputs take the export's defaults")
    parser.add_argument("--set", action="append", default=[], type=_scalar_input, metavar="NAME=VALUE",
                        help="with --samples: a scalar input of the signature, e.g. --set steps=20 (repeatable)")
    parser.add_argument("--steps", type=positive_int, default=9, help="codes along the --interpolate line (default 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    parser.add_argument("--model", default="conv_autoencoder_decoder", help="served model name (<recipe>_<part>)")
    parser.add_argument("--encoder-model", help="the encoder --interpolate asks (default: --model with "
                                                "'decoder' replaced by 'encoder')")
    parser.add_argument("--version", type=non_negative_int, help="a served version (default: the latest)")
    parser.add_argument("--signature", default=SIGNATURE,
                        help=f"the signature to run, e.g. sample (default {SIGNATURE})")
    parser.add_argument("--input-name", help="the signature input to feed (default: the only one, from the "
                                             "server's metadata, which is then not asked)")
    parser.add_argument("--format", choices=("instances", "inputs"), help="REST body: instances (rows, the "
                                                                          "default) or inputs (columnar)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait for each answer")
    parser.add_argument("--out", default="grid.png", help="the PNG grid to write (default grid.png)")
    args = parser.parse_args(argv)
    if args.grpc and args.format:
        parser.error("--format applies to --rest only")
    if args.interpolate and args.steps < 2:
        parser.error("--steps must be at least 2 to interpolate")
    if args.set and not args.samples:
        parser.error("--set applies to --samples only")
    if args.samples and args.format == "instances":
        parser.error("--samples sends scalars, which only the REST inputs form carries; leave out --format")
    args.format = args.format or "instances"
    return args


def main(argv=None) -> int:
    """`python -m gen_keras.serve`: the client's command.

    Args:
        argv: the flags; None for `sys.argv[1:]`.

    Returns:
        The exit status: 0, or 1 after printing a `GenKerasError`.
    """
    args = parse(argv)
    try:
        images = run(args)
    except GenKerasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(images)} images from {args.model} ({args.grpc or args.rest}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
