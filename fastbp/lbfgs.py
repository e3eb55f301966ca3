"""Full-batch training by L-BFGS-B (SciPy), as scikit-learn's ``solver="lbfgs"``: SciPy picks
the steps, the compiled training step computes the loss and its gradient over every row in
one call per evaluation (the step with no optimizer to apply it, Session.gradient, in as many
parts as the work pays for).

The objective is scikit-learn's: the weighted mean loss (times loss_scale: 1 / outputs for
squared error, which scikit-learn averages over outputs) plus 0.5 * alpha * sum ||W||^2 over
the weight sum.
"""

import numpy as np

from .training import Diverged


def minimize(model, data, alpha, loss_scale, max_iter, max_fun, tol, verbose=False):
    """Minimise the objective (module doc) over the parameters of model (an engine.Model)
    from their current values, on data (an engine Data, checked); the model holds the
    result's parameters afterwards. Raises Diverged, the parameters put back, when the result
    is not finite.

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result (``fun``, ``nit``, ``nfev``, ``success``, ``message``).
    """
    from scipy.optimize import minimize as scipy_minimize

    n = data.X.shape[0]
    session = model.session(data, None, n, batches_per_call=1)  # every evaluation reuses it
    order = np.arange(n)
    weight_sum = float(data.weights.sum(dtype=np.float64))
    decay = alpha / weight_sum
    grads = session.grads

    def objective(x):
        """(objective, its gradient as float64) at parameters x."""
        model.params[:] = x
        loss_sum = session.gradient(order, 0, 1).loss
        np.multiply(grads, loss_scale, out=grads)  # in place: the session's buffer
        model.add_weight_multiple(grads, decay)
        return loss_scale * loss_sum / weight_sum + 0.5 * decay * model.squared_weights(), \
            grads.astype(np.float64)

    options = {"maxfun": max_fun, "maxiter": max_iter, "gtol": tol}
    if verbose:
        options["disp"] = True
    start = model.params.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, as Diverged
        result = scipy_minimize(objective, start.copy(), method="L-BFGS-B", jac=True,
                                options=options)
    if not (np.isfinite(result.fun) and np.isfinite(result.x).all()):
        model.params[:] = start
        raise Diverged(f"L-BFGS-B reached a non-finite loss or parameter ({result.message}); "
                       f"the parameters are those it started from")
    model.params[:] = result.x
    return result
