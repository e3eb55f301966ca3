"""Quantized networks: a trained network's forward pass with int8 matrix products, for
inference (:meth:`fastbp.Network.quantize`).

Each layer's weights become int8 with one scale per output unit (symmetric: W[j, k] ~
sw[j] * Wq[j, k], |Wq| <= 127); each layer's input becomes uint8 with one scale and zero
point for the layer, from the smallest and largest value it took on calibration rows
(asymmetric: a ~ s * (q - zp), the range widened to include 0 so that 0 is exact). The
products run u8 x s8 -> s32 in oneDNN, exactly; biases, activations and the loss stay
float32 (fastbp.engine.int8 has the formulas). Without an int8 dot-product instruction
(VNNI) the input codes keep to 7 bits, 0..127, as oneDNN's kernels for such CPUs need
(ONNX Runtime's ``reduce_range`` serves the same purpose).
"""

import numpy as np

from . import persist
from .engine import Data, Model, backends
from .engine.codes import LOSSES
from .training import epoch_logs, predictions
from .validation import (check_activations, check_finite_after, check_targets,
                         check_weights, check_X)

WEIGHT_CODES = 127  # int8 weights in [-127, 127]: symmetric, so -W quantizes to -Wq


def input_bits(activation_bits):
    """The bits of each layer's uint8 input codes: activation_bits, or the most this CPU's
    products take exactly (8 with VNNI, else 7) when None."""
    widest = 8 if backends.has_vnni() else 7
    if activation_bits is None:
        return widest
    if activation_bits not in (7, 8):
        raise ValueError(f"activation_bits must be 7, 8 or None, got {activation_bits!r}")
    if activation_bits > widest:
        raise ValueError("activation_bits=8 needs a CPU with AVX512_VNNI or AVX_VNNI (Intel "
                         "Cascade Lake, Ice Lake, Alder Lake and later; AMD Zen 4 and later), "
                         "which this one lacks: its int8 products would saturate; use 7 "
                         "(the default here)")
    return activation_bits


def weight_codes(W):
    """(int8 Wq, float32 per-row scales sw) with W ~ sw[:, None] * Wq, rounding half to
    even; an all-zero row gets scale 1."""
    largest = np.abs(W).max(axis=1)
    scales = np.where(largest > 0, largest / WEIGHT_CODES, 1.0).astype(np.float32)
    codes = np.clip(np.rint(W / scales[:, None]), -WEIGHT_CODES, WEIGHT_CODES)
    return codes.astype(np.int8), scales


def input_codes(low, high, bits):
    """(float32 scale, int zero point) mapping [min(low, 0), max(high, 0)] onto the codes
    0 .. 2**bits - 1 (0 maps exactly to the zero point)."""
    top = 2 ** bits - 1
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = np.float32((high - low) / top if high > low else 1.0)
    zero_point = int(np.clip(np.rint(-low / np.float64(scale)), 0, top))
    return scale, zero_point


class QuantizedNetwork:
    """A network's forward pass with int8 products (module doc): made by
    :meth:`fastbp.Network.quantize`, read back by :func:`fastbp.load`.

    Attributes
    ----------
    sizes : list of int
    activations : list of str
    loss_name : str
    activation_bits : int
        Bits of the uint8 input codes of every layer (7 or 8).
    weight_codes : list of ndarray of int8
        ``weight_codes[l]`` has the shape of the network's ``weights[l]``.
    weight_scales : list of ndarray of float32
        One per output unit: ``weights[l] ~ weight_scales[l][:, None] * weight_codes[l]``.
    input_scales : ndarray of float32
    input_zero_points : ndarray of int
        Per layer l: its input a ~ input_scales[l] * (q - input_zero_points[l]).
    biases : list of ndarray of float32
    metadata : dict
        The network's metadata, saved with the quantized network.
    """

    def __init__(self, spec, weight_codes, weight_scales, biases, input_scales,
                 input_zero_points, activation_bits, metadata):
        # Built by Network.quantize or from_saved; not a public constructor.
        if backends.onednn is None:
            raise RuntimeError("a quantized network runs its products in oneDNN, which could "
                               "not be loaded: pip install onednn-cpu-gomp (it needs the "
                               "system's libgomp.so.1)")
        self._spec = dict(spec)
        self.sizes = list(spec["sizes"])
        self._loss_code, codes = check_activations(spec["activation"], spec["output"],
                                                   spec["loss"], len(self.sizes) - 1)
        self.loss_name = LOSSES[self._loss_code]
        self.activations = list(spec["activation"]) + [spec["output"]]
        self.activation_bits = input_bits(activation_bits)
        self.weight_codes = [np.ascontiguousarray(W, np.int8) for W in weight_codes]
        self.weight_scales = [np.asarray(s, np.float32) for s in weight_scales]
        self.biases = [np.asarray(b, np.float32) for b in biases]
        self.input_scales = np.asarray(input_scales, np.float32)
        self.input_zero_points = np.asarray(input_zero_points, np.int32)
        self.metadata = dict(metadata)
        self._model = Model(self.sizes, codes, self._loss_code, np.float32)
        self._kernel_q = self._model.quantized(
            self.weight_codes, self.weight_scales, self.biases, self.input_scales,
            self.input_zero_points, 2 ** self.activation_bits - 1)

    @classmethod
    def from_ranges(cls, spec, weights, biases, lows, highs, bits, metadata):
        """The network of spec with these float weights and biases quantized, its layers'
        inputs coded on bits bits over the ranges [lows[l], highs[l]] (Network.quantize)."""
        scales, zero_points = zip(*(input_codes(lo, hi, bits) for lo, hi in zip(lows, highs)))
        weight_codes_, weight_scales = zip(*(weight_codes(W) for W in weights))
        return cls(spec, weight_codes_, weight_scales, biases, scales, zero_points, bits,
                   metadata)

    def __repr__(self):
        return (f"QuantizedNetwork({self.sizes}, activation={self.activations[:-1]}, "
                f"output={self.activations[-1]!r}, loss={self.loss_name!r}, "
                f"activation_bits={self.activation_bits})")

    # Inference ---------------------------------------------------------------------------

    def _X(self, X):
        """X as the int8 pass reads it: a uint8 array as uint8, anything else as float32
        (C-contiguous, checked but for NaN and inf: _run checks those)."""
        dtype = np.uint8 if isinstance(X, np.ndarray) and X.dtype == np.uint8 else np.float32
        return check_X(X, self.sizes[0], dtype, finite=False, accept_sparse=False)

    def _run(self, data, out):
        """The int8 forward pass over data (records.Data); returns its Tallies, after
        raising where X holds a NaN or inf (check_finite_after)."""
        tallies = self._model.infer_int8(self._kernel_q, data, out)
        check_finite_after(data.X, tallies)
        return tallies

    def forward(self, X):
        """Output activations for each sample, float32, from int8 products.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0]), finite
            A uint8 array (raw pixels, for a network with an ``input_scale``) is read as
            it is: its bytes are quantized directly, with no float copy, or, when the
            network was calibrated on uint8 rows with 8-bit codes, are the codes already.
            The results are those of ``X.astype(np.float32)``, bit for bit.

        Returns
        -------
        ndarray, shape (n, sizes[-1]), float32
        """
        X = self._X(X)
        out = np.empty((X.shape[0], self.sizes[-1]), np.float32)
        self._run(self._model.no_targets(X), out)
        return out

    def predict(self, X):
        """As :meth:`fastbp.Network.predict`, from :meth:`forward`."""
        return predictions(self.loss_name, self.forward(X))

    def evaluate(self, X, y, sample_weight=None):
        """As :meth:`fastbp.Network.evaluate`, from :meth:`forward`'s outputs."""
        X = self._X(X)
        Y = check_targets(y, self._loss_code, self.sizes[-1], X.shape[0], np.float32)
        weights = check_weights(sample_weight, None, Y, self._loss_code, np.float32)
        tallies = self._run(Data(X, Y, weights), self._model.no_outputs())
        return epoch_logs(self._loss_code, self.sizes[-1], tallies)

    # Files -------------------------------------------------------------------------------

    def save(self, path):
        """Write the quantized network to an .npz file that :func:`fastbp.load` reads back
        (atomically, as :meth:`fastbp.Network.save`)."""
        spec = dict(self._spec, quantized={"activation_bits": self.activation_bits,
                                           "input_zero_points":
                                               self.input_zero_points.tolist()})
        arrays = {"weight_codes": np.concatenate([W.ravel() for W in self.weight_codes]),
                  "weight_scales": np.concatenate(self.weight_scales),
                  "input_scales": self.input_scales}
        persist.write(path, spec, np.concatenate(self.biases), metadata=self.metadata,
                      arrays=arrays)

    @classmethod
    def from_saved(cls, path, spec, params, metadata, arrays):
        """The quantized network in a file that persist.read read (fastbp.load)."""
        spec = dict(spec)
        settings = spec.pop("quantized")
        sizes = spec["sizes"]
        shapes = list(zip(sizes[1:], sizes[:-1]))
        weights_end = np.cumsum([n_out * n_in for n_out, n_in in shapes])[:-1]
        units_end = np.cumsum(sizes[1:])[:-1]
        try:
            codes, scales = arrays["weight_codes"], arrays["weight_scales"]
            if (codes.size != sum(n_out * n_in for n_out, n_in in shapes)
                    or scales.size != params.size or params.size != sum(sizes[1:])):
                raise ValueError("its arrays do not match its layer sizes")
            weight_codes_ = [W.reshape(shape)
                             for W, shape in zip(np.split(codes, weights_end), shapes)]
            return cls(spec, weight_codes_, np.split(scales, units_end),
                       np.split(params, units_end), arrays["input_scales"],
                       settings["input_zero_points"], settings["activation_bits"], metadata)
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path} holds a quantized network this fastbp cannot use: "
                             f"{type(error).__name__}: {error}") from None

    def to_onnx(self, path=None):
        """The int8 forward pass as an ONNX model (opset 17) with ONNX's integer operators
        (QuantizeLinear, MatMulInteger), written to path when given; its input ``"X"`` is
        (N, sizes[0]) float32, its output ``"Y"`` what :meth:`forward` returns. Needs the
        ``onnx`` package; fastbp.onnx_export has the details.

        Returns
        -------
        onnx.ModelProto
        """
        from .onnx_export import quantized_to_onnx
        return quantized_to_onnx(self, path)

