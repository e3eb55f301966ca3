"""The Network class: a thin Python shell around flat buffers and compiled kernels."""

import numpy as np

from . import optimizers, persist
from .engine import CSR, Data, Model
from .engine.backends import warn_if_emulated
from .engine.codes import (ACTIVATIONS, BFLOAT16, FLOAT32, LOSSES, PRECISIONS, RELU_FAMILY,
                           SIGMOID)
from .plan import FIT_SETTINGS, MaskStream, check_settings, fit_settings, make_plan
from .training import Trainer, epoch_logs, predictions, train
from .validation import (check_activations, check_dropout, check_dtype, check_finite_after,
                         check_init, check_input_map, check_output_width, check_params,
                         check_precision, check_sizes, check_targets, check_validation_data,
                         check_weights, check_X, row_range, validation_rows)


class Network:
    """A multilayer perceptron trained by backpropagation.

    Parameters
    ----------
    sizes : list of int
        Layer widths, inputs first and outputs last; at least two, each >= 1.
    activation : str or list of str, default "relu"
        Hidden activation: one name for every hidden layer, or one name per hidden layer.
        One of identity, sigmoid, tanh, relu, leaky_relu (slope 0.01), elu (alpha 1),
        softplus, gelu (exact erf form).
    output : str, optional
        Output activation (any of the above, softmax, or exp for poisson). Default: softmax
        for cross_entropy, sigmoid for binary_cross_entropy, exp for poisson, identity for
        mse.
    loss : {"cross_entropy", "binary_cross_entropy", "mse", "poisson"}, default "cross_entropy"
        Mean over samples of the per-sample loss: ``-sum_k y_k log a_k`` (softmax output),
        ``-sum_k [y_k log a_k + (1 - y_k) log(1 - a_k)]`` (sigmoid output),
        ``0.5 * ||a - y||^2``, or half the Poisson deviance
        ``sum_k y_k log(y_k / a_k) - y_k + a_k`` (exp output, targets >= 0: counts or
        rates).
    dtype : np.float32 or np.float64, default np.float32
        Precision of parameters and computation. Inputs held as uint8, int8, uint16, int16
        or float16, and memory maps (``np.memmap``, ``np.load(..., mmap_mode="r")``) of
        either float precision, are converted a batch at a time as the kernels read them,
        never copied whole; inputs of other dtypes are converted once, up front.
    precision : {"float32", "bfloat16"}, default "float32"
        The input precision of the matrix products, in training and in the forward pass.
        "bfloat16" (with ``dtype=np.float32``): the products of the forward pass, of the
        delta recursion and of the weight gradient read their operands (inputs,
        activations, deltas, and the weights, once per step) rounded to bfloat16, to
        nearest with ties to even, and sum in float32; the parameters, the optimizer's state
        and everything else stay float32. On a CPU with bf16 units (AVX512_BF16 or AMX) the
        products run on them; elsewhere the same numbers come from float32 products of the
        rounded operands, slower than float32 (a warning says so once). Dense X only.
    init : {"auto", "he", "xavier", "lecun", "sklearn"}, default "auto"
        Weight initialisation: He normal, Glorot (Xavier) uniform or LeCun normal; "auto"
        picks He for layers followed by relu, leaky_relu, elu or gelu, Xavier otherwise.
        Biases start at zero. "sklearn": scikit-learn's MLP initialisation, weights and
        biases uniform in +-sqrt(6 / (n_in + n_out)), with 2 instead of 6 in every layer
        when the hidden layers are sigmoid, each layer's weights drawn before its biases.
    seed : int, optional
        Seeds the initial parameters and, unless ``fit`` gets its own seed, the shuffling
        and the dropout masks.
    dropout : float or list of float, default 0
        Inverted dropout on the hidden layers while training (one rate, or one per hidden
        layer): each unit's output is zeroed with this probability and the rest scaled by
        1 / (1 - rate); inference is unaffected. Masks are drawn from the fit's random
        stream, so a seeded fit is reproducible.
    input_scale, input_shift : float or array_like of shape (sizes[0],), optional
        Map every input row X[i] to ``input_scale * X[i] + input_shift`` (per feature)
        before the first layer, in every fit, forward pass and export, as the kernels read
        each batch: ``input_scale=1/255`` trains on uint8 images as values in [0, 1]
        without a float copy of them; ``input_scale=1/std, input_shift=-mean/std``
        standardises. Saved with the network. Default: no scale, no shift.

    Attributes
    ----------
    sizes : list of int
    input_scale, input_shift : ndarray of shape (sizes[0],) or None
        The input map, in the network's dtype (read-only; None when not set).
    params : ndarray
        One contiguous 1-D array holding every weight and bias.
    weights, biases : list of ndarray
        Views into ``params``: ``weights[l]`` has shape (sizes[l+1], sizes[l]).
    metadata : dict
        JSON values saved and loaded with the network (the command line keeps class names,
        feature names, input scaling and how the network was trained there).
    layer_record : dict or None
        The per-layer record (:attr:`fastbp.History.layers`) of the last epoch of the last
        fit with ``track_layers=True``: each quantity as a list with one value per layer,
        and ``"epoch"``, that epoch's number in the fit (1-based). Saved and loaded with the
        network; None before such a fit.

    Examples
    --------
    >>> net = Network([64, 32, 10], seed=0)
    >>> history = net.fit(X, y, epochs=10, batch_size=32, lr=0.1)  # doctest: +SKIP
    """

    def __init__(self, sizes, activation="relu", output=None, loss="cross_entropy",
                 dtype=np.float32, init="auto", seed=None, dropout=0.0, input_scale=None,
                 input_shift=None, precision="float32"):
        self.sizes = check_sizes(sizes)
        self._loss_code, codes = check_activations(activation, output, loss, len(self.sizes) - 1)
        check_output_width(codes[-1], self.sizes[-1])
        self.loss_name = LOSSES[self._loss_code]
        self.activations = [ACTIVATIONS[c] for c in codes]
        self.dtype = check_dtype(dtype)
        self._precision = check_precision(precision, self.dtype)
        if self._precision == BFLOAT16:
            warn_if_emulated()
        self.init = check_init(init)
        self.dropout = check_dropout(dropout, len(self.sizes) - 2)
        # (scale, shift) as check_X takes them: arrays of dtype, each empty when not set
        self._input_map = tuple(check_input_map(value, name, self.sizes[0], self.dtype)
                                for value, name in ((input_scale, "input_scale"),
                                                    (input_shift, "input_shift")))
        self._rates = np.array(self.dropout + [0.0])  # per layer; the output layer never drops
        self._model = Model(self.sizes, codes, self._loss_code, self.dtype, self._precision)
        self._weights, self._biases = self._model.views()
        self._rng = np.random.default_rng(seed)
        self._masks = MaskStream()
        self._initialize(codes)
        self.metadata = {}
        self.layer_record = None

    def _initialize(self, codes):
        if self.init == "sklearn":
            hidden = codes[:-1]
            factor = 2.0 if hidden and all(code == SIGMOID for code in hidden) else 6.0
            for W, b in zip(self._weights, self._biases):
                bound = np.sqrt(factor / sum(W.shape))
                W[:] = self._rng.uniform(-bound, bound, W.shape)
                b[:] = self._rng.uniform(-bound, bound, b.shape)
            return
        for W, code in zip(self._weights, codes):
            n_out, n_in = W.shape
            rule = self.init
            if rule == "auto":
                rule = "he" if code in RELU_FAMILY else "xavier"
            if rule == "xavier":
                limit = np.sqrt(6.0 / (n_in + n_out))
                W[:] = self._rng.uniform(-limit, limit, size=W.shape)
            else:
                scale = np.sqrt((2.0 if rule == "he" else 1.0) / n_in)
                W[:] = self._rng.normal(0.0, scale, size=W.shape)

    def __getstate__(self):
        # weights and biases are views into params: pickle would copy them apart from it
        state = dict(vars(self))
        del state["_weights"], state["_biases"]
        return state

    def __setstate__(self, state):
        state.setdefault("_masks", MaskStream())  # pickled by a fastbp without them
        state.setdefault("layer_record", None)
        state.setdefault("_input_map", (np.empty(0, state["dtype"]),) * 2)
        state.setdefault("_precision", FLOAT32)
        vars(self).update(state)
        self._weights, self._biases = self._model.views()

    def __repr__(self):
        precision = "" if self._precision == FLOAT32 else f", precision={self.precision!r}"
        return (f"Network({self.sizes}, activation={self.activations[:-1]}, "
                f"output={self.activations[-1]!r}, loss={self.loss_name!r}, "
                f"dtype={np.dtype(self.dtype).name}{precision})")

    @property
    def precision(self):
        """The products' input precision: "float32" or "bfloat16"."""
        return PRECISIONS[self._precision]

    # Parameters --------------------------------------------------------------------------

    @property
    def input_scale(self):
        """The per-feature input scale (read-only), or None."""
        scale = self._input_map[0]
        return scale if scale.size else None

    @property
    def input_shift(self):
        """The per-feature input shift (read-only), or None."""
        shift = self._input_map[1]
        return shift if shift.size else None

    @property
    def params(self):
        """All weights and biases in one contiguous 1-D array (weights/biases are views)."""
        return self._model.params

    @params.setter
    def params(self, values):
        self.params[:] = check_params(values, self.params.shape)

    def _folded_parameters(self):
        """(weights, biases) as lists of arrays, with the input map folded into the first
        layer: W (scale * x + shift) + b = (W * scale) x + (b + W shift), computed in float64
        and rounded to the network's dtype; for forms that have no place for the map of their
        own (PyTorch's Sequential, the int8 model). The same views when there is no map."""
        weights, biases = self.weights, self.biases
        scale, shift = self._input_map
        if not scale.size and not shift.size:
            return weights, biases
        W, b = weights[0].astype(np.float64), biases[0].astype(np.float64)
        if shift.size:
            b = b + W @ shift
        if scale.size:
            W = W * scale
        weights[0], biases[0] = W.astype(self.dtype), b.astype(self.dtype)
        return weights, biases

    @property
    def weights(self):
        """List of views W[l] of shape (sizes[l+1], sizes[l]) into ``params``."""
        return list(self._weights)

    @property
    def biases(self):
        """List of views b[l] of shape (sizes[l+1],) into ``params``."""
        return list(self._biases)

    # Inference ---------------------------------------------------------------------------

    def _check_X(self, X, finite=True):
        """X as the kernels read it, with the network's input map (validation.check_X)."""
        X = check_X(X, self.sizes[0], self.dtype, finite=finite, input_map=self._input_map)
        if self._precision == BFLOAT16 and isinstance(X, CSR):
            raise TypeError("a bfloat16 network reads dense X only: pass X.toarray(), or use "
                            "precision='float32' for sparse X")
        return X

    def _XY(self, X, y, finite=True):
        X = self._check_X(X, finite=finite)
        return X, check_targets(y, self._loss_code, self.sizes[-1], X.shape[0], self.dtype)

    def forward(self, X):
        """Output activations for each sample.

        Parameters
        ----------
        X : array_like or SciPy sparse matrix/array, shape (n, sizes[0])

        Returns
        -------
        ndarray, shape (n, sizes[-1]), the network's dtype
        """
        return self._outputs(self._check_X(X, finite=False))

    def _outputs(self, X):
        """forward for an X checked already (C-contiguous, the network's dtype, width),
        except for NaN/inf, which the inference checks only if it meets one."""
        out, tallies = self._model.outputs(X)
        check_finite_after(X, tallies)
        return out

    def _evaluate_arrays(self, data):
        """Logs over data (an engine.Data checked except for NaN/inf in X)."""
        tallies = self._model.loss_tallies(data)
        check_finite_after(data.X, tallies)
        return epoch_logs(self._loss_code, self.sizes[-1], tallies)

    def _weighted(self, X, y, sample_weight):
        # X's NaN/inf check is left to the inference (check_finite_after)
        X, Y = self._XY(X, y, finite=False)
        return Data(X, Y, check_weights(sample_weight, None, Y, self._loss_code, self.dtype))

    def loss(self, X, y, sample_weight=None):
        """Mean over samples of the per-sample loss (see the ``loss`` parameter), weighted by
        ``sample_weight`` when given: sum(w_i * loss_i) / sum(w_i)."""
        return self._evaluate_arrays(self._weighted(X, y, sample_weight))["loss"]

    def evaluate(self, X, y, sample_weight=None):
        """Loss (weighted as in :meth:`loss`) and, for classification losses, accuracy
        (unweighted).

        Returns
        -------
        dict
            ``{"loss": float}`` plus ``"accuracy"`` (fraction of argmax matches for
            cross_entropy; of outputs on the right side of 0.5 for binary_cross_entropy).
        """
        return self._evaluate_arrays(self._weighted(X, y, sample_weight))

    def predict(self, X):
        """Class indices (cross_entropy), 0/1 integers (binary_cross_entropy) or outputs (mse,
        poisson: the predicted rates).

        For one output unit, binary, mse and poisson predictions have shape (n,); otherwise
        (n, k).
        """
        return predictions(self.loss_name, self.forward(X))

    def quantize(self, X, activation_bits=None):
        """An int8 inference model of this network: weights quantized per output unit, each
        layer's input range taken from the calibration rows X (fastbp.quantized has the
        scheme). The network itself is unchanged.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0])
            Calibration rows, finite: a few hundred to a few thousand rows like the data
            the model will see (a sample of the training set, say). Inputs outside the
            range they span are clipped to it. A uint8 X (raw pixels) gives the first
            layer uint8's whole range, 0 to 255: with 8-bit codes its pixels are then the
            codes themselves, and the model reads uint8 rows without quantizing them.
        activation_bits : {7, 8}, optional
            Bits of each layer's uint8 input codes. Default: 8 on CPUs with an int8
            dot-product instruction (AVX512_VNNI, AVX_VNNI), else 7, the most such CPUs
            multiply exactly; 8 raises ValueError on a CPU without one.

        Returns
        -------
        fastbp.quantized.QuantizedNetwork
            With ``forward``, ``predict``, ``evaluate``, ``save`` and ``to_onnx``.
        """
        from .quantized import QuantizedNetwork, input_bits
        bits = input_bits(activation_bits)
        pixels = getattr(X, "dtype", None) == np.uint8
        X = check_X(X, self.sizes[0], self.dtype, accept_sparse=False)
        lows, highs = self._model.input_ranges(X, self._input_map)
        if pixels:
            lows[0], highs[0] = 0, 255
        # the int8 model reads raw inputs: the input map goes into its first layer
        weights, biases = self._folded_parameters()
        return QuantizedNetwork.from_ranges(self._spec(), weights, biases, lows, highs, bits,
                                            self.metadata)

    # Training ----------------------------------------------------------------------------

    def backprop(self, X, y, return_deltas=False):
        """Gradients of ``self.loss(X, y)`` with respect to every weight and bias.

        Parameters
        ----------
        X : array_like or SciPy sparse matrix/array, shape (n, sizes[0])
        y : array_like
            Targets, as for :meth:`fit`.
        return_deltas : bool, default False
            Also return the per-sample errors ``delta[l] = dloss_i/dz[l]`` (eq. 1 of the
            documentation's math page) of every non-input layer, shape (n, sizes[l+1]), not
            divided by n.

        Returns
        -------
        grad_W : list of ndarray, shapes of ``weights``
        grad_b : list of ndarray, shapes of ``biases``
        deltas : list of ndarray, only with ``return_deltas=True``
        """
        X, Y = self._XY(X, y)
        grads, space = self._model.gradient(Data(X, Y, np.ones(X.shape[0], dtype=self.dtype)))
        grad_W, grad_b = self._model.views(grads)
        if not return_deltas:
            return grad_W, grad_b
        return grad_W, grad_b, self._model.deltas(space)

    def fit(self, X, y, epochs=1, batch_size=32, lr=None, optimizer="sgd", momentum=0.0,
            nesterov=False, weight_decay=None, schedule=None, clip_norm=None, l2=0.0,
            shuffle=True, seed=None, validation_data=None, validation_split=0.0,
            sample_weight=None, class_weight=None, callbacks=None, verbose=0,
            on_divergence="raise", comm=None, average_every=None, track_layers=False):
        """Train by mini-batch gradient descent, updating the parameters in place.

        Parameters
        ----------
        X : array_like or SciPy sparse matrix/array, shape (n, sizes[0])
        y : array_like
            cross_entropy: integer labels (n,) or probability rows (n, k), which are
            scaled to sum to exactly 1 (rows whose sums are off by more than 1e-3 are
            refused);
            binary_cross_entropy: targets in [0, 1], (n, k) or (n,) when k == 1;
            mse: (n, k) or (n,) when k == 1; poisson: the same, counts or rates >= 0.
        epochs : int, default 1
        batch_size : int, default 32
            Samples per update; every sample is used each epoch, the last batch may be
            smaller.
        lr : float, optional
            Learning rate with an optimizer name; default 0.1 for "sgd", 1e-3 for "adam" and
            "adamw", 1e-2 for "rmsprop". Not allowed with an optimizer object (its own rules).
        optimizer : str or fastbp.optimizers.Optimizer, default "sgd"
            "sgd", "adam", "adamw", "rmsprop", or an object such as
            ``fastbp.optimizers.Adam(lr=3e-4)``, whose state (moments, step count) carries
            over to the next fit call that gets the same object.
        momentum, nesterov : float, bool
            For optimizer="sgd".
        weight_decay : float, optional
            L2 penalty (decoupled for "adamw", default 1e-2 there); with an optimizer name.
        schedule : fastbp.schedules.Schedule, optional
            Multiplies the learning rate per epoch or per step (StepLR, ExponentialLR,
            CosineAnnealingLR, Warmup).
        clip_norm : float, optional
            Scale each batch gradient down to this global 2-norm when it is larger.
        l2 : float, default 0
            L2 penalty on the weights (not the biases), as scikit-learn's ``alpha``: each
            batch minimises (sum(w_i * loss_i) + 0.5 * l2 * sum ||W||^2) / sum(w_i), so the
            penalty weighs less in larger batches. Unlike ``weight_decay`` it is part of the
            gradient that optimizers and clipping see. The logged losses leave it out.
        shuffle : bool or "blocks", default True
            Visit the samples in a new random order every epoch. "blocks": visit blocks of
            consecutive rows (8 MiB of X each, at least one batch) in a new random order,
            the rows within each block shuffled, so that an epoch over X on disk (an
            ``np.memmap``) reads the file mostly sequentially; batches then mix the rows of
            one block, so X should not be sorted (by class, say) on a larger scale.
        seed : int, optional
            Seeds the shuffling; by default the network's own generator (seeded by the
            constructor's ``seed``) is used, so a seeded network trains reproducibly.
        validation_data : tuple (X_val, y_val), optional
            Evaluated after every epoch into ``val_loss`` (and ``val_accuracy``).
        validation_split : float, default 0
            Hold out this fraction of the samples (the last ones, before shuffling) as
            validation data instead; both parts are views of X, never copies.
        sample_weight : array_like, shape (n,), optional
            Non-negative weight of each sample: every batch minimises the weighted mean
            sum(w_i * loss_i) / sum(w_i), so an integer weight acts like repeating the sample.
        class_weight : dict or "balanced", optional
            Weight per class index (cross_entropy, or binary_cross_entropy with one output),
            multiplied into sample_weight; "balanced" uses n / (n_classes * class count).
        callbacks : list of fastbp.callbacks.Callback, optional
            EarlyStopping, ModelCheckpoint, CSVLogger, JSONLogger or your own.
        verbose : {0, 1, 2}, default 0
            1: a progress bar per epoch (tqdm); 2: one line per epoch.
        on_divergence : {"raise", "warn"}, default "raise"
            If a loss or parameter becomes NaN or inf, the parameters go back to their last
            finite state and FloatingPointError is raised, or a warning is issued and the
            history so far returned.
        comm : MPI communicator, optional
            Data-parallel training (fastbp.distributed): every rank of ``comm`` (e.g.
            ``mpi4py.MPI.COMM_WORLD``) calls fit with its own shard of X and y and the same
            other arguments; rank 0's parameters are broadcast first, each step's gradient
            is the weighted mean over the rows of every rank's batch, summed in rank order,
            and every rank ends each step with the same parameters. Logs and callbacks see
            the same values on every rank (validation too: each rank passes its own
            validation shard, or every rank a validation_split); ``verbose`` prints on rank
            0 only. A rank that raises aborts the job. Each rank runs on
            ``cores // ranks on its machine`` threads at most.
        average_every : int, optional
            With comm: local SGD instead of gradient averaging. Each rank takes this many
            steps on its own batches, then the ranks average their parameters and optimizer
            state (weighted by the sample weight each trained on): one exchange per
            ``average_every`` steps, for slow networks. Clipping then applies to each rank's
            own gradients.
        track_layers : bool, default False
            Record what backpropagation does in every layer, per epoch, into
            ``History.layers``: the RMS of each layer's error delta^l, the norms of its
            weight gradient and weights, the update ratio and the fraction of dead units;
            tallied inside the compiled step. Results are the same bits with or without it.
            Not with comm.

        Returns
        -------
        History
        """
        # fit's settings as the table plan.FIT_SETTINGS names them (its other arguments are
        # the arrays and comm)
        settings = fit_settings({name: value for name, value in locals().items()
                                 if name in FIT_SETTINGS})
        if comm is None and average_every is not None:
            raise ValueError("average_every goes with comm (data-parallel training)")
        FIT_SETTINGS["track_layers"].rule("track_layers", track_layers)
        if comm is not None and track_layers:
            raise ValueError("track_layers is for one process: data-parallel training "
                             "(comm) does not record the layers")

        def prepare():  # every check, before anything changes
            check_settings(settings)
            X_checked, Y = self._XY(X, y)
            weights = check_weights(sample_weight, class_weight, Y, self._loss_code, self.dtype)
            data, validation = self._split_validation(Data(X_checked, Y, weights),
                                                      validation_data, validation_split)
            return data, self._plan(settings, validation)

        if comm is None:
            return self._train(*prepare())
        from .distributed import fit_on_ranks  # only data-parallel fits load MPI's code
        return fit_on_ranks(self, self._model, comm, prepare)

    # Arrays checked already: the entry of adapters (fastbp.sklearn) ----------------------

    def training_data(self, X, Y, sample_weight=None):
        """Rows to train or evaluate on, from arrays their caller has validated already, as
        the kernels read them.

        For adapters that check their arrays their own way (fastbp.sklearn checks them as
        scikit-learn does): X and Y are converted once here, to C-contiguous arrays of the
        network's dtype (no copy of arrays that are so already), and not checked again;
        :meth:`fit_data` and :meth:`forward_data` take the result.

        Parameters
        ----------
        X : ndarray or SciPy sparse matrix/array, shape (n, sizes[0])
            Finite (not checked here).
        Y : ndarray, shape (n, sizes[-1])
            The targets as the network trains on them: one-hot or probability rows for
            cross_entropy (not labels), finite.
        sample_weight : ndarray, shape (n,), optional
            Non-negative and finite; None weighs every row 1.

        Returns
        -------
        fastbp.engine.Data
            The rows (X, Y, weights), for fit_data and forward_data.
        """
        X = self._check_X(X, finite=False)
        Y = np.ascontiguousarray(Y, dtype=self.dtype)
        weights = np.ones(Y.shape[0], self.dtype) if sample_weight is None \
            else np.ascontiguousarray(sample_weight, dtype=self.dtype)
        return Data(X, Y, weights)

    def fit_data(self, data, validation=None, **settings):
        """:meth:`fit` on rows from :meth:`training_data`: the same training, with none of
        the array checks.

        Parameters
        ----------
        data : fastbp.engine.Data
            The training rows (:meth:`training_data`).
        validation : fastbp.engine.Data, optional
            Rows evaluated after every epoch into ``val_loss`` (and ``val_accuracy``).
        **settings
            Any of fit's settings (epochs, batch_size, lr, optimizer, momentum, nesterov,
            weight_decay, schedule, clip_norm, l2, shuffle, seed, validation_split,
            callbacks, verbose, on_divergence, track_layers), checked as fit checks them;
            fit's defaults for the others.

        Returns
        -------
        History
        """
        settings = fit_settings(settings)
        if settings["average_every"] is not None:
            raise ValueError("average_every goes with comm (data-parallel training), which "
                             "fit_data does not take: use fit")
        check_settings(settings)
        if validation is None:
            data, validation = self._split_validation(data, None, settings["validation_split"])
        return self._train(data, self._plan(settings, validation))

    def forward_data(self, data):
        """The outputs and the loss of one forward pass over rows from
        :meth:`training_data`.

        Returns
        -------
        outputs : ndarray, shape (n, sizes[-1]), the network's dtype
        logs : dict
            As :meth:`evaluate` returns.
        """
        out, tallies = self._model.outputs(data)
        check_finite_after(data.X, tallies)
        return out, epoch_logs(self._loss_code, self.sizes[-1], tallies)

    def minimize(self, data, l2=0.0, loss_scale=1.0, max_iter=200, max_fun=15000, tol=1e-4,
                 verbose=False):
        """Full-batch training by SciPy's L-BFGS-B on rows from :meth:`training_data`, from
        the current parameters (fastbp.lbfgs): the objective is loss_scale times the
        weighted mean loss plus 0.5 * l2 * sum ||W||^2 over the weight sum, its value and
        gradient computed by the compiled training step in one call per evaluation.

        Parameters
        ----------
        data : fastbp.engine.Data
        l2 : float, default 0
        loss_scale : float, default 1
        max_iter, max_fun : int
            SciPy's maxiter and maxfun.
        tol : float
            SciPy's gtol.
        verbose : bool, default False
            SciPy's disp.

        Returns
        -------
        scipy.optimize.OptimizeResult
            Raises FloatingPointError (fastbp.training.Diverged), the parameters put back,
            when the result is not finite.
        """
        from .lbfgs import minimize
        return minimize(self._model, data, l2, loss_scale, max_iter, max_fun, tol, verbose)

    def _train(self, data, plan):
        """fit on validated data (engine.Data) as plan (plan.FitPlan) says."""
        history = train(self, Trainer(self._model, data, plan))
        if history.layers:
            self.layer_record = {key: values[-1].tolist()
                                 for key, values in history.layers.items()}
            self.layer_record["epoch"] = len(history.epoch)
        return history

    def _plan(self, settings, validation):
        """The FitPlan of fit's settings, drawing from the network's random stream, with its
        dropout rates and mask stream."""
        return make_plan(settings, rng=self._rng, rates=self._rates, masks=self._masks,
                         validation=validation)

    def _split_validation(self, data, validation_data, validation_split):
        """(training rows, validation rows or None) of fit's validation settings."""
        if validation_data is not None:
            X_val, Y_val = self._XY(*check_validation_data(validation_data, validation_split))
            return data, Data(X_val, Y_val, np.ones(X_val.shape[0], dtype=self.dtype))
        if not validation_split:
            return data, None
        n_val = validation_rows(validation_split, data.X.shape[0])
        X, Y, weights = data
        return (Data(row_range(X, 0, -n_val), Y[:-n_val], weights[:-n_val]),
                Data(row_range(X, -n_val, None), Y[-n_val:], np.ones(n_val, dtype=self.dtype)))

    def save(self, path, optimizer=None):
        """Write the network to an .npz file that :func:`fastbp.load` reads back, atomically:
        a process killed during the save leaves the previous file or the new one.

        The file also holds the network's random stream (shuffling draws from it), its
        dropout mask stream (seed and batches trained), its layer_record and, with
        ``optimizer`` (an object that trained this network, e.g.
        ``fastbp.optimizers.Adam``), its settings, state, step and epoch counts, so that
        ``net, opt = fastbp.load(path, with_optimizer=True)`` followed by
        ``net.fit(..., optimizer=opt)`` continues training exactly as the same calls would
        have without the save, dropout included (schedules read the optimizer's step and
        epoch counts). The network's ``metadata`` (JSON values) is saved with it.
        A killed save's temporary file is removed by the next save to the same path.
        """
        training = {"rng": self._rng.bit_generator.state, "mask_seed": self._masks.seed,
                    "batches": self._masks.batches}
        if self.layer_record is not None:
            training["layer_record"] = self.layer_record
        state = None
        if optimizer is not None:
            training["optimizer"] = optimizers.describe(optimizer, self.params)
            state = optimizer.state
        arrays = {name: value for name, value in (("input_scale", self.input_scale),
                                                  ("input_shift", self.input_shift))
                  if value is not None}
        persist.write(path, self._spec(), self.params, training, state, self.metadata, arrays)

    def to_onnx(self, path=None, dtype="float32"):
        """The forward pass as an ONNX model (opset 17), written to path when given; its
        input ``"X"`` is (N, sizes[0]), its output ``"Y"`` what :meth:`forward` returns.
        Needs the ``onnx`` package (``pip install onnx``); fastbp.onnx_export
        has the details.

        Returns
        -------
        onnx.ModelProto
        """
        from .onnx_export import to_onnx
        return to_onnx(self, path, dtype)

    def to_torch(self, logits=False):
        """The network as a ``torch.nn.Sequential`` of Linear and activation modules with
        the same parameters (the output activation left out with ``logits=True``); the
        inverse of :func:`fastbp.from_torch`. Needs PyTorch.
        """
        from .torch_convert import to_torch
        weights, biases = self._folded_parameters()
        return to_torch(weights, biases, self.activations, self.dtype, logits)

    def _spec(self):
        """The constructor's arguments, as saved with the parameters."""
        spec = {"sizes": self.sizes, "activation": self.activations[:-1],
                "output": self.activations[-1], "loss": self.loss_name,
                "dtype": np.dtype(self.dtype).name, "init": self.init, "dropout": self.dropout}
        if self._precision != FLOAT32:  # float32 files stay readable by earlier versions
            spec["precision"] = self.precision
        return spec


def load(path, with_optimizer=False):
    """Read a network written by :meth:`Network.save`, with its random stream.

    Parameters
    ----------
    path : str or path-like
    with_optimizer : bool, default False
        Also return the optimizer saved with it (``net.save(path, optimizer=opt)``), ready
        to continue training with ``net.fit(..., optimizer=opt)``.

    Returns
    -------
    Network, or (Network, fastbp.optimizers.Optimizer) with ``with_optimizer=True``
    """
    spec, params, training, state, metadata, arrays = persist.read(path)
    if "quantized" in spec:
        from .quantized import QuantizedNetwork
        return QuantizedNetwork.from_saved(path, spec, params, metadata, arrays)
    net = Network(**spec, input_scale=arrays.get("input_scale"),
                  input_shift=arrays.get("input_shift"))
    net.params = params
    net.metadata = metadata
    if training is not None:  # files of earlier fastbp versions hold no mask stream
        net._rng.bit_generator.state = training["rng"]
        net._masks = MaskStream(training.get("mask_seed"), training.get("batches", 0))
        net.layer_record = training.get("layer_record")
    if not with_optimizer:
        return net
    if training is None or "optimizer" not in training or state is None:
        raise ValueError(f"{path} holds no optimizer: save it with "
                         f"net.save(path, optimizer=opt) to resume training")
    return net, optimizers.restore(training["optimizer"], state, net.params)


def from_torch(module, loss=None):
    """A Network from a ``torch.nn.Sequential`` of Linear and activation modules, with its
    parameters, in its dtype: the inverse of :meth:`Network.to_torch`
    (fastbp.torch_convert.read_sequential says which modules it reads).

    Parameters
    ----------
    module : torch.nn.Sequential
    loss : {"cross_entropy", "binary_cross_entropy", "mse"}, optional
        By default from the output activation: cross_entropy after Softmax,
        binary_cross_entropy after Sigmoid, mse otherwise.

    Returns
    -------
    Network
    """
    from .torch_convert import read_sequential
    spec, layers = read_sequential(module, loss)
    network = Network(**spec)
    for W, b, (weight, bias) in zip(network.weights, network.biases, layers):
        W[:] = weight
        b[:] = 0 if bias is None else bias
    return network
