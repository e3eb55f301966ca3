"""The per-layer training record (``fit(track_layers=True)``), tallied inside the compiled
step: what each layer's error delta^l (eq. 1, 7 of docs/math.md), its weight gradient
(eq. 3) and its weight update did over an epoch, and which hidden units had an activation
derivative that was never far from zero.

The step (step.py) calls these with a records.Track; each part writes only its own row of
``track.sums`` and its own units of ``track.live``, so the record is the same on any number
of threads. Sums are float64, in row and unit order. Without tracking (track None) the step
compiles none of this.
"""

from numba import njit

from .codes import SIGMOID
from .config import DRIVER, INTERNAL
from .elementwise import scale_by_derivative
from .layout import N_OUT, weight_range
from .numba_ext import as_vector
from .update import sum_of_squares

ERRORS, GRADIENTS, UPDATES = range(3)  # the columns of track.sums
SMALL_DERIVATIVE = 1e-3  # "near zero": below this fraction of the activation's largest slope
# The gradient and update norms are taken at WEIGHED_PER_EPOCH to 2 WEIGHED_PER_EPOCH - 1
# evenly spaced steps of an epoch (every step of a shorter one), not at every step: each
# costs passes over every weight, as much as a plain SGD step of a small batch itself.
# Weighed every 16th step, they alone cost nielsen's SGD epoch 5% more
# (bench/tools/layer_record_cost.py); at this count, about 1-2% of medium's.
WEIGHED_PER_EPOCH = 16


def weigh_stride(steps):
    """The record weighs steps 1, 1 + stride, 1 + 2 stride, ... of an epoch of steps."""
    return max(1, steps // WEIGHED_PER_EPOCH)


def weighed_steps(steps):
    """How many of an epoch's steps the record weighs."""
    return -(-steps // weigh_stride(steps))


@njit(**INTERNAL)
def weighs_step(track, step_number):
    """Whether the record weighs update number step_number: one of track.first_step + k *
    track.stride."""
    return (step_number - track.first_step) % track.stride == 0


@njit(**INTERNAL)
def block_squares(block):
    """Sum of the squares of a 2-D block (rows contiguous), in float64, rows in order."""
    total = 0.0
    for i in range(block.shape[0]):
        # Typed contiguous: a row of a column block has unknown strides to Numba, and the
        # sum did not vectorise (3-4% of medium's epoch, against ~0.3% vectorised).
        total += sum_of_squares(as_vector(block[i:i + 1]))
    return total


@njit(**INTERNAL)
def tally_errors(track, t, l, delta):
    """Part t adds the sum of squares of its block of layer l's delta to the record."""
    track.sums[t, l, ERRORS] += block_squares(delta)


@njit(**DRIVER)  # inlined: kinds reaches scale_by_derivative as a constant
def mark_live_units(kinds, track, t, code, l, u0, z, a):
    """Part t: units u0 + j of hidden layer l (activation code) whose derivative sigma'(z)
    reached SMALL_DERIVATIVE times the activation's largest slope (1/4 for the sigmoid,
    else 1) on some row of the batch block (z, a) are marked live. Only units not yet live
    this epoch are looked at (after an epoch's first steps, the dead ones): each one's
    column of z and a is copied next to a column of ones (part t's columns), which the
    step's own derivative kernel scales in one contiguous pass."""
    n, m = z.shape
    threshold = SMALL_DERIVATIVE * (0.25 if code == SIGMOID else 1.0)
    live = track.live[l, u0:u0 + m]
    columns = track.columns[t]
    z_j, a_j, slopes = columns[0, 0:n], columns[1, 0:n], columns[2, 0:n]
    for j in range(m):
        if live[j]:
            continue
        for i in range(n):
            z_j[i, 0], a_j[i, 0], slopes[i, 0] = z[i, j], a[i, j], 1.0
        scale_by_derivative(kinds, code, z_j, a_j, slopes)
        for i in range(n):
            if abs(slopes[i, 0]) >= threshold:
                live[j] = 1
                break


@njit(**INTERNAL)
def keep_weights(track, params, table, l, lo, hi):
    """Copy rows [lo, hi) of W[l] before this step's update changes them."""
    start, stop = weight_range(table, l, lo, hi)
    src, dst = params[start:stop], track.before[start:stop]
    for i in range(src.shape[0]):  # on views from 0: see update_squares
        dst[i] = src[i]


@njit(**INTERNAL)
def update_squares(params, before, lo, hi):
    """Sum over [lo, hi) of the flat buffers of (params - before)**2, in float64."""
    # On views indexed from 0: indexing from lo, which Numba cannot prove non-negative, adds
    # a wraparound test to each access and the loop did not vectorise (5x slower, and a
    # weighed step cost medium's epoch 70% of a step).
    new, old = params[lo:hi], before[lo:hi]
    total = 0.0
    for i in range(new.shape[0]):
        d = float(new[i]) - float(old[i])
        total += d * d
    return total


@njit(**INTERNAL)
def tally_change(track, t, params, table, l, lo, hi):
    """After rows [lo, hi) of W[l] took this step's update: part t adds the squared norm of
    their change to the record, and returns it."""
    start, stop = weight_range(table, l, lo, hi)
    change = update_squares(params, track.before, start, stop)
    track.sums[t, l, UPDATES] += change
    return change


@njit(**INTERNAL)
def tally_gradient(track, t, grads, table, l, lo, hi):
    """Part t adds the squared norm of rows [lo, hi) of W[l]'s mean gradient (grads, laid
    out like params) to the record."""
    start, stop = weight_range(table, l, lo, hi)
    track.sums[t, l, GRADIENTS] += sum_of_squares(grads[start:stop])


@njit(**INTERNAL)
def tally_flat_updates(track, t, params, table, lo, hi):
    """After the clipped step updated [lo, hi) of the flat buffers: part t adds the squared
    change of the weights among them to each layer's record."""
    for l in range(table.shape[0]):
        w0, w1 = weight_range(table, l, 0, table[l, N_OUT])
        a, b = max(lo, w0), min(hi, w1)
        if a < b:
            track.sums[t, l, UPDATES] += update_squares(params, track.before, a, b)
