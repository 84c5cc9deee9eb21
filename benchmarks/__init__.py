"""Benchmarks of jaxnn: manual backprop vs autodiff (and peers); time, memory, FLOPs.

Run ``python -m benchmarks.backprop [--quick] [--out DIR]`` (``make bench``); see
``benchmarks/README.md`` for the method and the committed results.
"""
