"""scikit-learn's stopping rule for its MLP estimators, as a fastbp callback.

After every epoch: the loss as scikit-learn reports it (the data loss plus the L2 term), and
with early stopping the validation score; a count of epochs that did not improve on the best
by ``tol``; when the count passes ``n_iter_no_change``, stop, or for SGD with
``learning_rate="adaptive"`` divide the rate by 5 (stopping once it is below 1e-6). The
``invscaling`` rate ``lr_init / (samples seen + 1) ** power_t`` is set at each epoch's end.
"""

import numpy as np

from .callbacks import Callback


class StoppingRule(Callback):
    """The rule above for one fit of an estimator (fastbp.sklearn).

    settings is the estimator (tol, n_iter_no_change, solver, learning_rate,
    learning_rate_init, power_t, alpha, verbose are read); optimizer the fit's optimizer
    (its lr is changed here); n_train the rows per epoch; batches_per_weight the batches per
    epoch over the training rows' weight sum, which scales the L2 term (scikit-learn adds
    0.5 * alpha * sum ||W||^2 / (batch weight sum) to each batch's loss, and averages the
    batches' losses weighted by their rows; exact for equal weights); loss_scale turns
    fastbp's epoch loss into scikit-learn's (1 / outputs for squared error, which it
    averages over outputs); validate None, or a function of the network returning
    its validation score (early stopping). record holds the fitted attributes that carry over
    from an earlier fit (n_iter_ from 0, t_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_) and receives loss_; the estimator takes it when fit succeeds.
    """

    def __init__(self, settings, optimizer, n_train, batches_per_weight, loss_scale, validate,
                 record):
        super().__init__()
        self.settings, self.optimizer = settings, optimizer
        self.n_train, self.loss_scale = n_train, loss_scale
        self.batches_per_weight = batches_per_weight
        self.validate, self.record = validate, record
        self.no_improvement = 0
        self.stopped = False  # the rule ended training (then no ConvergenceWarning)
        self.best_params = None  # with early stopping: those of the best validation score

    def on_epoch_end(self, epoch, logs=None):
        est, opt, r = self.settings, self.optimizer, self.record
        # Not np.dot: NumPy's BLAS threads would wake up and spin-wait for a while after
        # the call, taking a core from the next epoch's compiled loop (2-3x slower epochs
        # measured on 2 cores).
        with np.errstate(over="ignore"):  # huge weights: an infinite loss, reported as such
            penalty = 0.5 * est.alpha * sum(float(np.square(W).sum())
                                            for W in self.model.weights)
        r["loss_"] = logs["loss"] * self.loss_scale + penalty * self.batches_per_weight
        r["loss_curve_"].append(r["loss_"])
        r["n_iter_"] += 1
        r["t_"] += self.n_train
        if est.verbose:
            print(f"Iteration {r['n_iter_']}, loss = {r['loss_']:.8f}")
        self._count()
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            opt.lr = est.learning_rate_init / (r["t_"] + 1) ** est.power_t
        if self.no_improvement <= est.n_iter_no_change:
            return False
        if est.solver == "sgd" and est.learning_rate == "adaptive" and opt.lr > 1e-6:
            opt.lr /= 5.0
            self.no_improvement = 0
            if est.verbose:
                print(f"Setting learning rate to {opt.lr:f}")
            return False
        if est.verbose:
            what = "Training loss" if self.validate is None else "Validation score"
            print(f"{what} did not improve more than tol={est.tol:f} for "
                  f"{est.n_iter_no_change} consecutive epochs. Stopping.")
        self.stopped = True
        return True

    def _count(self):
        """Update the count of epochs without improvement by tol, and the best values."""
        tol, r = self.settings.tol, self.record
        if self.validate is None:
            worse = r["loss_"] > r["best_loss_"] - tol
            r["best_loss_"] = min(r["best_loss_"], r["loss_"])
        else:
            score = self.validate(self.model)
            r["validation_scores_"].append(score)
            if self.settings.verbose:
                print(f"Validation score: {score:f}")
            worse = score < r["best_validation_score_"] + tol
            if score > r["best_validation_score_"]:
                r["best_validation_score_"] = score
                self.best_params = self.model.params.copy()
        self.no_improvement = self.no_improvement + 1 if worse else 0
