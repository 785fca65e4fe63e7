"""pgjets: symmetry-aware graph learning for particle physics on PyTorch Geometric."""

__version__ = "0.1.0"
