"""Compiled kernels: BLAS access, forward pass, backward pass and the training loop."""
