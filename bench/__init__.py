"""fastbp benchmarks: asv suites (training, inference, kernels, memory, tracking) and the
side-by-side peer comparison (peers.py)."""
