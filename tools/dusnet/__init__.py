"""DUS-Net (Down-Up Sampling Networks) training/export/reference tools for dus-edge.

Module names follow the paper (section 3): noise_gen (eq. 1), down_net (eq. 2-8),
up_net (eq. 9-14), reference (eq. 15-17). The contract with the Rust runtime is
models/README.md.
"""
__version__ = "1.0.0"
