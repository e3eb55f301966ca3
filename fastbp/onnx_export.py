"""A network as an ONNX model, for ONNX Runtime and the other runtimes that read ONNX
(``pip install onnx``): :meth:`fastbp.Network.to_onnx`, and
:meth:`fastbp.quantized.QuantizedNetwork.to_onnx` (:func:`quantized_to_onnx`).

The graph is the forward pass: per layer a Gemm (``X @ W.T + b``) and the layer's activation,
one ONNX operator each (LeakyRelu with alpha 0.01, Elu with alpha 1, Softmax over the last
axis), except gelu, whose exact erf form ``0.5 x (1 + erf(x / sqrt 2))`` takes four
operators (ONNX has a Gelu operator only from opset 20). A network with an input map starts
with a Mul by its input_scale and an Add of its input_shift (those it has). Opset 17 (ONNX
Runtime 1.11 and later).
"""

import math

import numpy as np

from .engine.codes import BY_NAME

OPSET = 17


def to_onnx(network, path=None, dtype="float32"):
    """The ONNX model of network's forward pass (see the module docstring).

    Parameters
    ----------
    network : fastbp.Network
    path : str or path-like, optional
        Where to write the model; with None it is only returned.
    dtype : {"float32", "float64"}, default "float32"
        Element type of the parameters, input and output. ONNX Runtime's CPU provider has
        no float64 kernels for Elu, Softplus and Erf (elu, softplus, gelu).

    Returns
    -------
    onnx.ModelProto
        Input ``"X"`` of shape (N, sizes[0]), output ``"Y"`` of shape (N, sizes[-1]).
    """
    from onnx import TensorProto, helper, numpy_helper

    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    element = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    nodes, initializers = [], []
    current = "X"
    for name, op, value in (("input_scale", "Mul", network.input_scale),
                            ("input_shift", "Add", network.input_shift)):
        if value is not None:  # the input map, as the kernels apply it (scale first)
            initializers.append(numpy_helper.from_array(value.astype(dtype), name))
            nodes.append(helper.make_node(op, [current, name], [f"{name}_out"]))
            current = f"{name}_out"
    last = len(network.sizes) - 2
    for l, (W, b, activation) in enumerate(zip(network.weights, network.biases,
                                               network.activations)):
        initializers += [numpy_helper.from_array(W.astype(dtype), f"W{l}"),
                         numpy_helper.from_array(b.astype(dtype), f"b{l}")]
        z = f"z{l}"
        nodes.append(helper.make_node("Gemm", [current, f"W{l}", f"b{l}"], [z], transB=1))
        out = "Y" if l == last else f"a{l}"
        nodes += _activation(activation, z, out, l, dtype, initializers)
        current = out
    return _model(network, "fastbp_network", nodes, initializers, element, path)


def _model(network, name, nodes, initializers, element, path):
    """The checked ONNX model of graph nodes with input "X" and output "Y" of the element
    type, written to path when given."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("X", element, ["N", network.sizes[0]])],
        [helper.make_tensor_value_info("Y", element, ["N", network.sizes[-1]])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fastbp")
    model.doc_string = repr(network)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model


def _activation(name, z, out, l, dtype, initializers):
    """The nodes computing out = name(z) (layer l; gelu's constants go to initializers)."""
    from onnx import helper, numpy_helper

    known = BY_NAME[name]
    if known.onnx_op is not None:
        return [helper.make_node(known.onnx_op, [z], [out], **known.onnx_attributes)]
    assert name == "gelu", name
    for constant, value in ((f"inv_sqrt2_{l}", 1 / math.sqrt(2)), (f"half_{l}", 0.5),
                            (f"one_{l}", 1.0)):
        initializers.append(numpy_helper.from_array(np.array(value, dtype=dtype), constant))
    return [helper.make_node("Mul", [z, f"inv_sqrt2_{l}"], [f"{z}_s"]),
            helper.make_node("Erf", [f"{z}_s"], [f"{z}_erf"]),
            helper.make_node("Add", [f"{z}_erf", f"one_{l}"], [f"{z}_1p"]),
            helper.make_node("Mul", [z, f"half_{l}"], [f"{z}_half"]),
            helper.make_node("Mul", [f"{z}_half", f"{z}_1p"], [out])]


def quantized_to_onnx(qnet, path=None):
    """The ONNX model of a quantized network's forward pass (QuantizedNetwork.to_onnx).

    Per layer: Min (inputs above the calibrated range become its top, as the uint8 codes
    are clipped to 2**activation_bits - 1), QuantizeLinear to uint8 with the layer's input
    scale and zero point, MatMulInteger with the int8 weights (the zero point subtracted,
    exactly), Cast to float, Mul by the per-unit multiplier (input scale times weight scale),
    Add the bias, then the activation as in :func:`to_onnx`. The integer products are those
    of :meth:`QuantizedNetwork.forward`; outputs differ from it only by the activations'
    float rounding and where that rounding moves a value across a code boundary.
    """
    from onnx import TensorProto, helper, numpy_helper

    top = 2 ** qnet.activation_bits - 1
    nodes, initializers = [], []
    current = "X"
    last = len(qnet.sizes) - 2
    for l, (W, b, activation) in enumerate(zip(qnet.weight_codes, qnet.biases,
                                               qnet.activations)):
        scale, zero_point = qnet.input_scales[l], int(qnet.input_zero_points[l])
        multiplier = (scale * qnet.weight_scales[l]).astype(np.float32)
        highest = np.float32(scale * np.float32(top - zero_point))
        initializers += [
            numpy_helper.from_array(np.array(highest, np.float32), f"high{l}"),
            numpy_helper.from_array(np.array(scale, np.float32), f"scale{l}"),
            numpy_helper.from_array(np.array(zero_point, np.uint8), f"zero{l}"),
            numpy_helper.from_array(np.ascontiguousarray(W.T), f"Wq{l}"),
            numpy_helper.from_array(multiplier, f"m{l}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{l}")]
        nodes += [helper.make_node("Min", [current, f"high{l}"], [f"clipped{l}"]),
                  helper.make_node("QuantizeLinear", [f"clipped{l}", f"scale{l}", f"zero{l}"],
                                   [f"q{l}"]),
                  helper.make_node("MatMulInteger", [f"q{l}", f"Wq{l}", f"zero{l}"],
                                   [f"acc{l}"]),
                  helper.make_node("Cast", [f"acc{l}"], [f"accf{l}"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [f"accf{l}", f"m{l}"], [f"zm{l}"]),
                  helper.make_node("Add", [f"zm{l}", f"b{l}"], [f"z{l}"])]
        out = "Y" if l == last else f"a{l}"
        nodes += _activation(activation, f"z{l}", out, l, "float32", initializers)
        current = out
    return _model(qnet, "fastbp_quantized_network", nodes, initializers, TensorProto.FLOAT,
                  path)
