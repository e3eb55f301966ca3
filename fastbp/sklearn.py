"""scikit-learn estimators wrapping :class:`fastbp.Network`, for pipelines, grid searches and
cross-validation (``pip install "fastbp[sklearn]"``).

    from fastbp.sklearn import FastbpClassifier
    make_pipeline(StandardScaler(), FastbpClassifier(hidden_layer_sizes=(128,))).fit(X, y)
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .network import Network


class _FastbpEstimator(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", epochs=20, batch_size=32,
                 lr=None, optimizer="sgd", dropout=0.0, dtype="float32", random_state=None,
                 verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.dropout = dropout
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _fit_network(self, X, target, n_outputs, loss, sample_weight):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        self.n_features_in_ = X.shape[1]
        seed = self.random_state if not isinstance(self.random_state, np.random.RandomState) \
            else self.random_state.randint(2 ** 31)
        self.network_ = Network([X.shape[1], *self.hidden_layer_sizes, n_outputs],
                                activation=self.activation, loss=loss, dtype=self.dtype,
                                seed=seed, dropout=self.dropout)
        self.history_ = self.network_.fit(X, target, epochs=self.epochs,
                                          batch_size=self.batch_size, lr=self.lr,
                                          optimizer=self.optimizer, sample_weight=sample_weight,
                                          verbose=self.verbose).history
        return self


class FastbpClassifier(ClassifierMixin, _FastbpEstimator):
    """Multilayer perceptron classifier trained by fastbp (softmax + cross-entropy).

    Parameters mirror :class:`fastbp.Network` and :meth:`fastbp.Network.fit`;
    ``hidden_layer_sizes`` follows scikit-learn's MLPClassifier. Labels may be any values
    ``np.unique`` sorts; ``classes_`` holds them.

    Attributes
    ----------
    classes_ : ndarray
    network_ : fastbp.Network
    history_ : dict
    n_features_in_ : int
    """

    def fit(self, X, y, sample_weight=None):
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y needs at least 2 classes, got {len(self.classes_)}")
        return self._fit_network(X, codes, len(self.classes_), "cross_entropy", sample_weight)

    def predict_proba(self, X):
        check_is_fitted(self, "network_")
        return self.network_.forward(X)

    def predict(self, X):
        winners = self.predict_proba(X).argmax(axis=1)  # checks fitted first
        return self.classes_[winners]


class FastbpRegressor(RegressorMixin, _FastbpEstimator):
    """Multilayer perceptron regressor trained by fastbp (identity output, squared error)."""

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y, dtype=float)
        self._single_output = y.ndim == 1
        target = y.reshape(-1, 1) if self._single_output else y
        return self._fit_network(X, target, target.shape[1], "mse", sample_weight)

    def predict(self, X):
        check_is_fitted(self, "network_")
        out = self.network_.forward(X)
        return out[:, 0] if self._single_output else out
