"""scikit-learn estimators trained by fastbp: drop-in replacements for scikit-learn's
``MLPClassifier`` and ``MLPRegressor`` (``pip install scikit-learn``).

    from fastbp.sklearn import FastbpClassifier
    make_pipeline(StandardScaler(), FastbpClassifier(hidden_layer_sizes=(128,))).fit(X, y)

The parameters, defaults, stopping rule and fitted attributes are scikit-learn's; the
differences are listed in the class docstrings.
"""

import contextlib
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (check_classification_targets, type_of_target,
                                      unique_labels)
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import optimizers
from .callbacks import Callback, as_list
from .convergence import CARRIED, StoppingRule
from .engine.codes import HIDDEN_ACTIVATIONS
from .network import Network
from .training import Diverged, predictions
from .validation import check_weight_values

# scikit-learn's activation names, and fastbp's own (gelu, elu, ...).
_ACTIVATIONS = {"logistic": "sigmoid", **{name: name for name in HIDDEN_ACTIVATIONS}}
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_OUT_ACTIVATIONS = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity",
                    "exp": "exp"}
_REGRESSION_LOSSES = {"squared_error": "mse", "poisson": "poisson"}  # scikit-learn's: fastbp's


@contextlib.contextmanager
def _non_finite_as_scikit_learn_says():
    """fastbp's Diverged (the parameters restored to their last finite state) as the
    ValueError scikit-learn raises for non-finite weights."""
    try:
        yield
    except Diverged as error:
        raise ValueError("Solver produced non-finite parameter weights. The input data may "
                         "contain large values and need to be preprocessed.") from error


@contextlib.contextmanager
def _text_hint():
    """scikit-learn's error for text in X, with how to encode it added."""
    try:
        yield
    except ValueError as error:
        if "could not convert string" not in str(error):
            raise
        raise ValueError(f"{error}. X holds text: encode its text columns first, e.g. with "
                         f"OneHotEncoder in a ColumnTransformer, in a Pipeline before this "
                         f"estimator") from error


class _FastbpMLP(BaseEstimator):
    """What both estimators share: parameters, validation, the training loop, attributes."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"adam", "sgd", "lbfgs"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), None, type],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "callbacks": [list, tuple, Callback, None],
    }

    # Each estimator spells out its own __init__ signature: scikit-learn reads the
    # parameters (get_params, clone) from the class's own __init__.
    def _set_parameters(self, arguments):
        """Store an __init__'s arguments (its locals()) as the parameters, unchanged, as
        scikit-learn requires."""
        for name, value in arguments.items():
            if name != "self":
                setattr(self, name, value)

    # Fitted attributes read from the network ---------------------------------------------

    @property
    def coefs_(self):
        """List of weight matrices, ``coefs_[i]`` of shape (units of layer i, of layer i+1)
        (scikit-learn's orientation): views into ``network_.params``. Assigning a list of
        arrays of these shapes to a fitted model copies them in."""
        check_is_fitted(self, "network_")
        return [W.T for W in self.network_.weights]

    @coefs_.setter
    def coefs_(self, coefs):
        self._assign("coefs_", coefs, lambda network: [W.T for W in network.weights])

    @property
    def intercepts_(self):
        """List of bias vectors, views into ``network_.params``."""
        check_is_fitted(self, "network_")
        return self.network_.biases

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._assign("intercepts_", intercepts, lambda network: network.biases)

    def _assign(self, name, arrays, views_of):
        """Copy arrays into the fitted network's parameter views (views_of(network_)), all
        or none."""
        check_is_fitted(self, "network_")
        views = views_of(self.network_)
        arrays = [np.asarray(a) for a in arrays]
        if [a.shape for a in arrays] != [v.shape for v in views]:
            raise ValueError(f"{name} must be arrays of the fitted model's shapes "
                             f"{[v.shape for v in views]}, got {[a.shape for a in arrays]}")
        if not all(np.isfinite(a).all() for a in arrays):
            raise ValueError(f"{name} must be finite")
        for view, a in zip(views, arrays):
            view[...] = a

    @property
    def n_layers_(self):
        check_is_fitted(self, "network_")
        return len(self.network_.sizes)

    @property
    def n_outputs_(self):
        check_is_fitted(self, "network_")
        return self.network_.sizes[-1]

    @property
    def out_activation_(self):
        check_is_fitted(self, "network_")
        return _OUT_ACTIVATIONS[self.network_.activations[-1]]

    def _forward(self, X):
        """The network's outputs for X, checked as scikit-learn checks it (validate_data),
        or by the few checks that stand for it on a plain input (_plain_input)."""
        if not self._plain_input(X):
            check_is_fitted(self, "network_")
            with _text_hint():
                X = validate_data(self, X, accept_sparse=["csr", "csc"],
                                  dtype=(np.float64, np.float32), reset=False)
        return self.network_.forward(X)

    def _plain_input(self, X):
        """Whether X is an input validate_data would pass through unchanged and silent, to a
        fitted model: a 2-D float64 or float32 NumPy array (no subclass), of at least one row
        and the fitted number of features, all finite, for a model fitted without feature
        names. The checks cost ~2 us instead of validate_data's ~60 for one row (serving one
        row at a time, bench/tools/serving.py); any other input takes validate_data."""
        return (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES
                and "network_" in self.__dict__ and "feature_names_in_" not in self.__dict__
                and X.shape[0] > 0 and X.shape[1] == self.n_features_in_
                and bool(np.isfinite(X).all()))

    # Fitting ------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (a new one unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._validate_params()
        if self.solver == "lbfgs" and self.dropout:
            raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'): 'lbfgs' "
                             "minimises the full-batch loss, with no noise")
        if self.solver == "lbfgs" and self.callbacks:
            raise ValueError("callbacks run between the epochs of a stochastic solver ('adam' "
                             "or 'sgd'): 'lbfgs' has no epochs")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        fitted = hasattr(self, "network_")
        first = not fitted or (not self.warm_start and not incremental)
        before = dict(vars(self))
        try:
            self._fit_validated(X, y, sample_weight, incremental, first, classes)
        except BaseException:  # a failed fit leaves the estimator as it was
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _fit_validated(self, X, y, sample_weight, incremental, first, classes):
        # X converted once, to what the network reads: C-contiguous, in its dtype (the
        # network's own when it has one, else float32 input stays float32, any other float64)
        dtype = self.network_.dtype if not first else self.dtype
        if first and dtype is None and self.precision == "bfloat16":
            dtype = np.float32  # bfloat16's master parameters
        with _text_hint():
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                 dtype=(np.float64, np.float32) if dtype is None else dtype,
                                 order="C", y_numeric=not is_classifier(self), reset=first)
        dtype = X.dtype
        if sample_weight is not None:
            sample_weight = check_weight_values(
                _check_sample_weight(sample_weight, X, dtype=X.dtype))
        target, loss, n_outputs = self._encode_targets(y, first, incremental, classes)
        sample_weight = self._weigh_classes(y, sample_weight, incremental)
        if first:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            network = Network([X.shape[1], *self._hidden_sizes(), n_outputs],
                              activation=_ACTIVATIONS[self.activation], loss=loss, dtype=dtype,
                              init="sklearn", seed=seed, dropout=self.dropout,
                              precision=self.precision)
            previous = None
        else:
            network = self.network_
            self._check_same_outputs(n_outputs)
            # the stopping rule's record, unless an lbfgs fit (which keeps none) came before
            previous = {name: getattr(self, name) for name in CARRIED} \
                if all(hasattr(self, name) for name in CARRIED) else None
        if self.solver == "lbfgs":
            self._train_lbfgs(network, X, target, sample_weight)
        else:
            if first or not incremental or not hasattr(self, "_optimizer"):
                self._optimizer = self._make_optimizer()
            self._train(network, X, target, sample_weight, incremental, previous)
        self.network_ = network

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        return [int(sizes)] if isinstance(sizes, numbers.Integral) else [int(s) for s in sizes]

    def _make_optimizer(self):
        lr = self.learning_rate_init
        if self.solver == "adam":
            return optimizers.Adam(lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                                   eps_hat=True)
        return optimizers.SGD(lr=lr, momentum=self.momentum,
                              nesterov=self.nesterovs_momentum and self.momentum > 0)

    def _check_same_outputs(self, n_outputs):
        if n_outputs != self.network_.sizes[-1]:
            raise ValueError(f"warm_start and partial_fit need targets with the model's "
                             f"{self.network_.sizes[-1]} outputs, got {n_outputs}")

    def _train(self, network, X, target, sample_weight, incremental, previous):
        """Epochs of the network's fit under scikit-learn's stopping rule, on X, targets and
        weights validate_data has checked (the network does not check them again); the
        fitted attributes on success. previous: the stopping rule's attributes of an earlier
        fit to continue from (convergence.CARRIED), or None."""
        validate = None
        if self.early_stopping:
            X, target, sample_weight, validate = self._split(network, X, target,
                                                             sample_weight)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It "
                              "is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))
        scale = self._loss_scale(network)
        weight_sum = n if sample_weight is None else float(sample_weight.sum())
        rule = StoppingRule(
            self._optimizer, tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            alpha=self.alpha, verbose=self.verbose,
            sgd_schedule=self.learning_rate if self.solver == "sgd" else None,
            lr_init=self.learning_rate_init, power_t=self.power_t, n_train=n,
            batches_per_weight=-(-n // batch_size) / weight_sum, loss_scale=scale,
            validate=validate, previous=previous)
        data = network.training_data(X, self._target_matrix(target, network.dtype),
                                     sample_weight)
        callbacks = (rule, *as_list(self.callbacks))  # the rule first: they see its logs
        with _non_finite_as_scikit_learn_says():
            # With early stopping a diverging fit stops, warning, and keeps its best epoch
            # (scikit-learn trains on, scoring NaN, to the same end); without, it raises.
            network.fit_data(
                data, epochs=1 if incremental else self.max_iter, batch_size=batch_size,
                optimizer=self._optimizer, l2=float(self.alpha), shuffle=self.shuffle,
                callbacks=callbacks, on_divergence="raise" if validate is None else "warn")
        if rule.best_params is not None:  # early stopping: the best epoch's parameters
            network.params = rule.best_params
        vars(self).update(rule.record)
        if not incremental and not rule.stopped and rule.record["n_iter_"] == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet.", ConvergenceWarning)

    def _train_lbfgs(self, network, X, target, sample_weight):
        """scikit-learn's lbfgs: SciPy's L-BFGS-B over the full-batch loss (fastbp.lbfgs),
        from the network's current parameters, for at most max_iter iterations and max_fun
        evaluations; a ConvergenceWarning when it stops short of converging."""
        data = network.training_data(X, self._target_matrix(target, network.dtype),
                                     sample_weight)
        with _non_finite_as_scikit_learn_says():
            result = network.minimize(data, l2=float(self.alpha),
                                      loss_scale=self._loss_scale(network),
                                      max_iter=self.max_iter, max_fun=self.max_fun,
                                      tol=self.tol, verbose=self.verbose)
        if not result.success:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase the number "
                          f"of iterations (max_iter) or the number of loss evaluations "
                          f"(max_fun), or scale the data.", ConvergenceWarning)
        for name in CARRIED:  # what only stochastic solvers record
            vars(self).pop(name, None)
        self.n_iter_, self.t_, self.loss_ = min(result.nit, self.max_iter), 0, float(result.fun)

    @staticmethod
    def _loss_scale(network):
        """What the loss is multiplied by to be scikit-learn's: 1 / outputs for squared
        error, which scikit-learn averages over outputs (its Poisson and log losses sum
        over them, as fastbp's)."""
        return 1.0 / network.sizes[-1] if network.loss_name == "mse" else 1.0

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR and CSC X: the first layer's sparse kernels
        return tags

    def _check_stochastic(self):
        """partial_fit exists for the stochastic solvers only (AttributeError otherwise, as
        scikit-learn's)."""
        if self.solver not in ("adam", "sgd"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _target_matrix(self, target, dtype):
        """The (n, outputs) targets the network trains on, in its dtype, from the encoded
        targets (the regressor's are those already)."""
        return target

    def _weigh_classes(self, y, sample_weight, incremental):
        """The sample weights with the class weights multiplied in (the classifier's
        class_weight; a regressor has none)."""
        return sample_weight

    def _split(self, network, X, target, sample_weight):
        """scikit-learn's early-stopping split: (X, target, sample_weight) to train on and a
        function of the network giving its validation score."""
        # scikit-learn stratifies single-output problems only (binary: one output), on the
        # boolean target column; multiclass and multilabel splits are not stratified
        single = is_classifier(self) and target.ndim == 2 and target.shape[1] == 1
        stratify = target.astype(bool) if single else None
        rng = check_random_state(self.random_state)
        arrays = [X, target] + ([] if sample_weight is None else [sample_weight])
        parts = train_test_split(*arrays, random_state=rng, test_size=self.validation_fraction,
                                 stratify=stratify)
        X_train, X_val, t_train, t_val = parts[:4]
        w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")

        # converted once, not every epoch
        rows = network.training_data(X_val, self._target_matrix(t_val, network.dtype), w_val)
        scale = self._loss_scale(network)

        def validate(network):
            """(score, loss) of the network on the validation rows, from one forward pass:
            the score scikit-learn's early stopping uses, and the data loss scaled as
            loss_curve_'s (without the L2 term)."""
            out, logs = network.forward_data(rows)
            return self._score_outputs(network, out, t_val, w_val), logs["loss"] * scale

        return X_train, t_train, w_train, validate


class FastbpClassifier(ClassifierMixin, _FastbpMLP):
    """Multilayer perceptron classifier trained by fastbp: scikit-learn's
    ``MLPClassifier``, with the same parameters, defaults and fitted attributes.

    Multiclass problems train a softmax output with cross-entropy, two classes one sigmoid
    output with binary cross-entropy, multilabel targets (an indicator matrix) one sigmoid
    per label, as scikit-learn does.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default (100,)
    activation : {"identity", "logistic", "tanh", "relu"} or a fastbp hidden activation
        ("sigmoid", "leaky_relu", "elu", "softplus", "gelu"), default "relu"
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        "lbfgs": SciPy's L-BFGS-B over the full-batch loss, whose loss and gradient fastbp's
        compiled step computes (one call per evaluation); not with ``dropout``.
    alpha : float, default 1e-4
        L2 penalty on the weights, scaled as scikit-learn scales it (divided by each batch's
        weight sum; fastbp.Network.fit's ``l2``).
    batch_size : int or "auto", default "auto"
        "auto": min(200, n_samples).
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The SGD schedule, as scikit-learn's.
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As in scikit-learn: training stops when the training loss (or, with
        ``early_stopping``, the validation score) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, with a ``ConvergenceWarning`` when ``max_iter`` epochs
        run out first.
    dropout : float, default 0
        Inverted dropout on the hidden layers while training (fastbp's own).
    dtype : {"float32", "float64"} or None, default None
        Precision of the network. None follows X as scikit-learn does: float32 input stays
        float32, any other input is float64. float32 is about twice as fast.
    precision : {"float32", "bfloat16"}, default "float32"
        The matrix products' input precision (fastbp's own; fastbp.Network has the details):
        "bfloat16" rounds their operands to bfloat16 and sums in float32, on the CPU's bf16
        units where it has them; the parameters stay float32 (dtype None or "float32").
        The network keeps it through warm_start and partial_fit.
    callbacks : list of fastbp.callbacks.Callback, optional
        Run after every epoch of the stochastic solvers, after scikit-learn's stopping rule
        (fastbp's own). Their ``model`` is ``network_``; the logs hold the epoch's "loss"
        (as in ``loss_curve_``) and "lr", and with ``early_stopping`` "validation_score"
        and "val_loss" (as in ``validation_scores_`` and ``validation_loss_curve_``). A callback
        that returns True stops training. ``clone`` (and so a grid search) copies them.
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, multiplied into ``sample_weight`` (fastbp's own; the
        classifier only): a dict of label: weight (1 for a label it leaves out), or
        "balanced", n_samples / (n_classes * count of the class), as scikit-learn's other
        classifiers define it. Not for multilabel targets; partial_fit takes a dict only.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_
        As in scikit-learn (``coefs_`` and ``intercepts_`` are views into the network).
    validation_loss_curve_ : list of float or None
        With ``early_stopping``: the loss on the validation split after each epoch, scaled
        as ``loss_curve_`` but without the L2 term (fastbp's own); None otherwise.
    network_ : fastbp.Network
        The trained network.

    Notes
    -----
    Differences from scikit-learn: the random numbers (the same distributions: scikit-learn's
    initialisation, shuffling and early-stopping split, from other draws); the loss
    recorded per epoch counts the L2 term with the weights at the epoch's end.
    """

    _parameter_constraints = {**_FastbpMLP._parameter_constraints,
                              "class_weight": [dict, StrOptions({"balanced"}), None]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, precision="float32", callbacks=None,
                 class_weight=None):
        self._set_parameters(locals())

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over X and y, continuing from the current state (optimizer included).

        Parameters
        ----------
        X, y, sample_weight : as for fit
        classes : array-like, optional
            Every class of the whole problem: required at the first call; at later calls
            either None or the same classes.

        Returns
        -------
        self
        """
        if not hasattr(self, "network_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _encode_targets(self, y, first, incremental, classes):
        """(targets for the network, its loss, its output count) from labels y."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        labels = unique_labels(y)
        if first:
            # partial_fit's classes name the labels; multilabel targets name them by column
            multilabel = type_of_target(y).startswith("multilabel")
            binarizer = LabelBinarizer().fit(y if classes is None or multilabel else classes)
            # one class: trained as scikit-learn's, one sigmoid output whose targets are
            # all 0, predicting that class
            if not set(labels) <= set(binarizer.classes_):
                raise ValueError(f"`y` has classes not in `classes`: {binarizer.classes_} "
                                 f"against {labels}")
            self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        else:
            binarizer = self._label_binarizer
            if incremental and classes is not None and not np.array_equal(
                    self.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={unique_labels(classes).tolist()}` is not the same "
                                 f"as on last call to partial_fit, was: "
                                 f"{self.classes_.tolist()}")
            if incremental and not set(labels) <= set(self.classes_):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {labels}.")
            if not incremental and set(labels) != set(self.classes_):
                raise ValueError(f"warm_start can only be used where `y` has the same classes "
                                 f"as in the previous call to fit. Previously got "
                                 f"{self.classes_}, `y` has {labels}")
        if binarizer.y_type_ == "multiclass":
            return np.searchsorted(self.classes_, y), "cross_entropy", len(self.classes_)
        Y = binarizer.transform(y)  # 0/1 integers: the network's dtype in _target_matrix
        return Y, "binary_cross_entropy", Y.shape[1]

    def _weigh_classes(self, y, sample_weight, incremental):
        """sample_weight times each sample's class weight (scikit-learn's compute_class_weight
        over classes_: a dict of labels, or "balanced", n / (classes * count of the class))."""
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight is for targets of one label per sample; for "
                             "multilabel targets pass sample_weight")
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' needs every class's count, which "
                             "partial_fit does not see: pass class_weight=compute_class_"
                             "weight('balanced', classes=classes, y=y) from "
                             "sklearn.utils.class_weight, with y a sample of the whole "
                             "training set's targets")
        y = column_or_1d(y)
        per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
        weights = per_class[np.searchsorted(self.classes_, y)]
        return weights if sample_weight is None else sample_weight * weights

    def _target_matrix(self, target, dtype):
        if target.ndim == 1:  # class indices (multiclass): one-hot rows
            Y = np.zeros((target.shape[0], len(self.classes_)), dtype)
            Y[np.arange(target.shape[0]), target] = 1
            return Y
        return target.astype(dtype, copy=False)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (for multilabel
        targets, each label's probability).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        out = self._forward(X)
        if self._label_binarizer.y_type_ == "binary":
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted class labels (for multilabel targets, the indicator matrix)."""
        out = self._forward(X)  # checks that the model is fitted first
        binarizer = self._label_binarizer
        if binarizer.y_type_ == "multiclass" and not binarizer.sparse_input_:
            return self.classes_[out.argmax(axis=1)]  # what inverse_transform returns, faster
        return binarizer.inverse_transform(out)

    @staticmethod
    def _score_outputs(network, out, target, sample_weight):
        """Accuracy of the network's outputs on encoded targets (early stopping's validation
        score), predicting as the network does."""
        predicted = predictions(network.loss_name, out)
        return accuracy_score(target, predicted.reshape(target.shape),
                              sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class FastbpRegressor(RegressorMixin, _FastbpMLP):
    """Multilayer perceptron regressor trained by fastbp: scikit-learn's ``MLPRegressor``,
    with the same parameters, defaults and fitted attributes; see :class:`FastbpClassifier`
    for them and for the differences.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        "squared_error": identity output, half the squared error averaged over outputs;
        "poisson": exp output (log link), half the Poisson deviance summed over outputs,
        for targets >= 0 (counts, rates). As scikit-learn's.
    hidden_layer_sizes, activation, ... : as :class:`FastbpClassifier`, except
        ``class_weight``, which only the classifier has
    """

    _parameter_constraints = {**_FastbpMLP._parameter_constraints,
                              "loss": [StrOptions(set(_REGRESSION_LOSSES))]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, precision="float32", callbacks=None):
        self._set_parameters(locals())  # loss first, as in scikit-learn's MLPRegressor

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X and y, continuing from the current state (optimizer included).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, first, incremental, classes):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        loss = _REGRESSION_LOSSES[self.loss]
        if loss == "poisson" and (Y < 0).any():
            raise ValueError("loss='poisson' needs targets y >= 0 (counts or rates), got a "
                             f"minimum of {Y.min()}")
        if not first and loss != self.network_.loss_name:
            raise ValueError(f"warm_start and partial_fit keep the model's loss: it was "
                             f"trained with loss={self._fitted_loss()!r}, not {self.loss!r}")
        return Y, loss, Y.shape[1]

    def _fitted_loss(self):
        return {fastbp: name for name, fastbp in _REGRESSION_LOSSES.items()}[
            self.network_.loss_name]

    def predict(self, X):
        """Predictions, of shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    @staticmethod
    def _score_outputs(network, out, target, sample_weight):
        """R^2 of the network's outputs on targets (early stopping's validation score; NaN,
        as scikit-learn's, when an output is not finite)."""
        if not np.isfinite(out).all():
            return np.nan
        return r2_score(target, out, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
