"""
Data-parallel training over MPI
===============================

Every rank trains on its own shard of Fashion-MNIST (or of scikit-learn's digits when the
Fashion-MNIST files are not installed); each step's gradient is the mean over the rows of
every rank, and every rank ends each step with the same parameters. Run it with MPI (this
page shows the script; the documentation build does not run it)::

    pip install ".[mpi]"
    mpiexec -n 2 python examples/train_mpi.py
"""

import time

from mpi4py import MPI

import fastbp
from fastbp.datasets import find_fashion_mnist, load_digits, load_fashion_mnist

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()

if find_fashion_mnist() is not None:
    X, y, X_test, y_test = load_fashion_mnist()
    sizes, epochs = [784, 256, 10], 3
else:
    X, y, X_test, y_test = load_digits()
    sizes, epochs = [64, 64, 10], 20
X_local, y_local = X[rank::size], y[rank::size]  # every rank reads only its own shard

net = fastbp.Network(sizes, seed=0)
started = time.perf_counter()
net.fit(X_local, y_local, epochs=epochs, batch_size=64, optimizer="adam", lr=2e-3, comm=comm,
        verbose=2)
if rank == 0:
    accuracy = net.evaluate(X_test, y_test)["accuracy"]
    print(f"{size} ranks: test accuracy {accuracy:.4f} after {epochs} epochs, "
          f"{time.perf_counter() - started:.1f} s")
