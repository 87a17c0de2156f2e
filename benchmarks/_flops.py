"""FLOPs of a TensorFlow function, counted from its graph: every matrix product and convolution, forward and
backward, with the shapes the graph holds.

How: trace the function to a concrete graph (fixed batch, so every shape is static), walk the operations that
run (what its outputs and variable updates depend on; the gradients nobody uses are pruned) and those of the
functions they call, and for each dense op count 2 FLOPs per multiply-add:
  MatMul (m×k)(k×n): 2·m·k·n;  BatchMatMul: that per batch element;  Einsum: 2 · Π(every index's size);
  Conv2D, and its two backward ops Conv2DBackpropInput / Conv2DBackpropFilter (also a transposed
  convolution's forward): 2 · (output-side elements: N·H_out·W_out·C_out) · k_h·k_w·C_in, every kernel tap
  counted, also those on "same" padding.
Element-wise ops (activations, normalisation, the optimizer's update) are left out: they are memory-bound
and their count says little about time; the profile shows what they cost.
"""

from __future__ import annotations

import collections
import math

import tensorflow as tf

MATMUL_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")
CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative",
            "DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter")


def _dims(tensor) -> list[int]:
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        raise ValueError(f"{tensor.name} has no static shape ({shape}): trace with a fixed batch")
    return shape.as_list()


def _einsum_flops(op) -> int:
    equation = op.get_attr("equation").decode()
    inputs, _ = equation.replace(" ", "").split("->")
    sizes = {}
    for spec, tensor in zip(inputs.split(","), op.inputs):
        for letter, size in zip(spec, _dims(tensor)):
            sizes[letter] = size
    return 2 * math.prod(sizes.values())


def op_flops(op) -> tuple[str, int] | None:
    """("matmul" or "conv", FLOPs) of one dense op, None for any other op."""
    kind = op.type
    if kind == "MatMul":
        a, b = _dims(op.inputs[0]), _dims(op.inputs[1])
        m, k = (a[1], a[0]) if op.get_attr("transpose_a") else (a[0], a[1])
        n = b[0] if op.get_attr("transpose_b") else b[1]
        return "matmul", 2 * m * k * n
    if kind.startswith("BatchMatMul"):
        out = _dims(op.outputs[0])
        a = _dims(op.inputs[0])
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return "matmul", 2 * math.prod(out) * k
    if kind == "Einsum":
        return "matmul", _einsum_flops(op)
    if kind in CONV_OPS:
        if op.get_attr("data_format") not in (b"NHWC", "NHWC"):
            raise ValueError(f"{op.name}: only NHWC is counted")
        if kind in ("Conv2D", "DepthwiseConv2dNative"):
            out_side, kernel = _dims(op.outputs[0]), _dims(op.inputs[1])
        elif kind.endswith("BackpropInput"):
            out_side, kernel = _dims(op.inputs[2]), _dims(op.inputs[1])
        else:  # BackpropFilter: its output is the kernel's gradient
            out_side, kernel = _dims(op.inputs[2]), _dims(op.outputs[0])
        kh, kw, c_in = kernel[:3]
        if kind.startswith("Depthwise"):  # each output channel sees one input channel
            return "conv", 2 * math.prod(out_side) * kh * kw
        return "conv", 2 * math.prod(out_side) * kh * kw * c_in
    return None


def _called_graphs(op, graph):
    """The graphs of the functions an op calls (PartitionedCall, While, If, …)."""
    for attr in op.node_def.attr.values():
        names = [attr.func.name] if attr.HasField("func") else [f.name for f in attr.list.func]
        for name in names:
            if not name:
                continue
            function = graph._get_function(name)  # the graph's own function library
            inner = getattr(function, "graph", None)
            if inner is not None:
                yield inner


def live_ops(graph) -> list:
    """The ops that run: those the graph's outputs or its stateful ops (variable updates) depend on. A
    gradient function makes every gradient of an op (e.g. a convolution's kernel gradient where only its
    input's gradient is asked for); the ones nothing uses are pruned before the graph runs."""
    roots = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    roots += [op for op in graph.get_operations() if op._is_stateful]
    seen, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def graph_flops(graph, multiplier: int = 1, counts=None, unknown=None):
    """Adds the dense FLOPs of `graph`'s live ops (`live_ops`) and every function they call into `counts` by
    op type; ops inside a loop body are counted once (their trip count is not in the graph) and named in
    `unknown`."""
    counts = collections.Counter() if counts is None else counts
    unknown = set() if unknown is None else unknown
    for op in live_ops(graph):
        found = op_flops(op)
        if found:
            counts[(found[0], op.type)] += multiplier * found[1]
        for inner in _called_graphs(op, graph):
            if op.type in ("While", "StatelessWhile"):
                unknown.add(op.name)
            graph_flops(inner, multiplier, counts, unknown)
    return counts, unknown


def function_flops(fn, *args) -> dict:
    """Dense FLOPs of one call of `fn(*args)`.

    Args:
        fn: a Python callable (traced with `tf.function`) or a `tf.function`.
        *args: its arguments, tensors of fixed shape.

    Returns:
        `{"matmul": FLOPs, "conv": FLOPs, "by_op": {op type: FLOPs}, "loops": [names of while loops]}`.
    """
    traced = fn if hasattr(fn, "get_concrete_function") else tf.function(fn)
    concrete = traced.get_concrete_function(*args)
    counts, unknown = graph_flops(concrete.graph)
    by_op = collections.Counter()
    for (_, op_type), flops in counts.items():
        by_op[op_type] += flops
    return {"matmul": sum(f for (k, _), f in counts.items() if k == "matmul"),
            "conv": sum(f for (k, _), f in counts.items() if k == "conv"),
            "by_op": dict(by_op), "loops": sorted(unknown)}
