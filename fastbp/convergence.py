"""scikit-learn's stopping rule for its MLP estimators, as a fastbp callback.

After every epoch: the loss as scikit-learn reports it (the data loss plus the L2 term), and
with early stopping the validation score; a count of epochs that did not improve on the best
by ``tol``; when the count passes ``n_iter_no_change``, stop, or for SGD with
``learning_rate="adaptive"`` divide the rate by 5 (stopping once it is below 1e-6). The
``invscaling`` rate ``lr_init / (samples seen + 1) ** power_t`` is set at each epoch's end.
"""

import numpy as np

from .callbacks import Callback
from .engine import squared_weights

# The fitted attributes the rule keeps, which carry over from one fit to the next
# (warm_start, partial_fit); n_iter_ counts the epochs of one fit and starts at 0. The count
# of epochs without improvement carries over too, under scikit-learn's name: a warm start
# after a fit that stopped stops after one epoch that does not improve, and partial_fit calls
# count towards the adaptive rate's divisions, as in scikit-learn.
CARRIED = ("t_", "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_",
           "validation_loss_curve_", "_no_improvement_count")


class StoppingRule(Callback):
    """The rule above for one fit of an estimator (fastbp.sklearn).

    Parameters
    ----------
    optimizer : fastbp.optimizers.Optimizer
        The fit's optimizer: the rule sets its lr for the SGD schedules.
    tol, n_iter_no_change, alpha, verbose
        The estimator's settings.
    sgd_schedule : {None, "constant", "invscaling", "adaptive"}
        The SGD learning-rate schedule (None for Adam), with lr_init and power_t.
    n_train : int
        Training rows per epoch.
    batches_per_weight : float
        Batches per epoch over the training rows' weight sum, which scales the L2 term
        (scikit-learn adds 0.5 * alpha * sum ||W||^2 / (batch weight sum) to each batch's
        loss and averages the batches' losses weighted by their rows; exact for equal
        weights).
    loss_scale : float
        Turns fastbp's epoch loss into scikit-learn's (1 / outputs for squared error, which
        it averages over outputs).
    validate : callable, optional
        Early stopping: a function of the network returning its validation score and loss.
    previous : dict, optional
        The CARRIED attributes of an earlier fit to continue from; None for a new model.

    Attributes
    ----------
    stopped : bool
        The rule ended training (then no ConvergenceWarning).
    best_params : ndarray or None
        With early stopping: the parameters of the best validation score.
    """

    def __init__(self, optimizer, *, tol, n_iter_no_change, alpha, verbose, sgd_schedule,
                 lr_init, power_t, n_train, batches_per_weight, loss_scale, validate=None,
                 previous=None):
        super().__init__()
        self.optimizer = optimizer
        self.tol, self.n_iter_no_change, self.alpha, self.verbose = (tol, n_iter_no_change,
                                                                      alpha, verbose)
        self.sgd_schedule, self.lr_init, self.power_t = sgd_schedule, lr_init, power_t
        self.n_train, self.loss_scale = n_train, loss_scale
        self.batches_per_weight = batches_per_weight
        self.validate = validate
        self.stopped = False
        self.best_params = None
        early = validate is not None
        new = {"t_": 0, "loss_curve_": [], "best_loss_": None if early else np.inf,
               "validation_scores_": [] if early else None,
               "best_validation_score_": -np.inf if early else None,
               "validation_loss_curve_": [] if early else None, "_no_improvement_count": 0}
        self.record = dict(new if previous is None else previous)
        # A warm start that turns early stopping on (or off) starts the record that mode
        # keeps (scikit-learn's fails on its None record instead).
        if early and self.record["validation_scores_"] is None:
            for name in ("validation_scores_", "best_validation_score_",
                         "validation_loss_curve_"):
                self.record[name] = new[name]
        if not early and self.record["best_loss_"] is None:
            self.record["best_loss_"] = new["best_loss_"]
        for curve in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            if self.record[curve] is not None:  # the estimator's lists are not changed
                self.record[curve] = list(self.record[curve])
        self.record["n_iter_"] = 0  # the epochs of this fit, as scikit-learn counts them

    def on_epoch_end(self, epoch, logs=None):
        opt, r = self.optimizer, self.record
        # huge weights: an infinite loss, reported as such
        penalty = 0.5 * self.alpha * squared_weights(self.model.weights)
        r["loss_"] = logs["loss"] * self.loss_scale + penalty * self.batches_per_weight
        r["loss_curve_"].append(r["loss_"])
        logs["loss"] = r["loss_"]  # the callbacks after this one see scikit-learn's loss
        r["n_iter_"] += 1
        r["t_"] += self.n_train
        if self.verbose:
            print(f"Iteration {r['n_iter_']}, loss = {r['loss_']:.8f}")
        self._count(logs)
        if self.sgd_schedule == "invscaling":
            opt.lr = self.lr_init / (r["t_"] + 1) ** self.power_t
        if r["_no_improvement_count"] <= self.n_iter_no_change:
            return False
        if self.sgd_schedule == "adaptive" and opt.lr > 1e-6:
            opt.lr /= 5.0
            r["_no_improvement_count"] = 0
            if self.verbose:
                print(f"Setting learning rate to {opt.lr:f}")
            return False
        if self.verbose:
            what = "Training loss" if self.validate is None else "Validation score"
            print(f"{what} did not improve more than tol={self.tol:f} for "
                  f"{self.n_iter_no_change} consecutive epochs. Stopping.")
        self.stopped = True
        return True

    def _count(self, logs):
        """Update the count of epochs without improvement by tol, and the best values; with
        early stopping, record the validation score and loss, in logs too (as
        "validation_score" and "val_loss", for the callbacks after this one)."""
        r = self.record
        if self.validate is None:
            worse = r["loss_"] > r["best_loss_"] - self.tol
            r["best_loss_"] = min(r["best_loss_"], r["loss_"])
        else:
            score, loss = self.validate(self.model)
            r["validation_scores_"].append(score)
            r["validation_loss_curve_"].append(loss)
            logs["validation_score"], logs["val_loss"] = score, loss
            if self.verbose:
                print(f"Validation score: {score:f}")
            worse = score < r["best_validation_score_"] + self.tol
            if score > r["best_validation_score_"]:
                r["best_validation_score_"] = score
                self.best_params = self.model.params.copy()
        r["_no_improvement_count"] = r["_no_improvement_count"] + 1 if worse else 0
