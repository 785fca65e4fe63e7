"""pgjets: symmetry-aware graph learning for particle physics on PyTorch Geometric.

Subpackages: :mod:`pgjets.ops` (kernels), :mod:`pgjets.graphs` (inputs to graphs), :mod:`pgjets.nn` (layers),
:mod:`pgjets.models`, :mod:`pgjets.data`, :mod:`pgjets.train`, and the
symmetry checks in :mod:`pgjets.symmetry`.
"""

from . import errors
from ._checks import is_debug, set_debug

__version__ = "0.1.0"
__all__ = ["errors", "is_debug", "set_debug", "__version__"]
