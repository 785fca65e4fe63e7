from __future__ import annotations

import pytest
import torch

from pgjets import symmetry as S
from pgjets.models import InvariantParticleNet, pad_batch, build_model
from pgjets.models.invariant_particlenet import default_scalar_columns

SMALL = dict(blocks=((4, (16, 16)), (4, (24, 24))))
PN_SMALL = dict(SMALL, fc=((16, 0.1),))


def trained(name_or_model, b, **kw):
    torch.manual_seed(0)
    m = build_model(name_or_model, 7, 2, **kw) if isinstance(name_or_model, str) else name_or_model
    m.train()
    with torch.no_grad():
        m(b)
    return m.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_permutation_translation_and_rotation_errors_below_1e_5(batch_of, dtype):
    b = batch_of([9, 3, 14, 6, 20])
    m = trained("particlenet_inv", b, **SMALL, fc=(16,)).to(dtype)
    pn = trained("particlenet", b, **PN_SMALL).to(dtype)
    for key in ("x", "pos", "pt", "p4"):
        b[key] = b[key].to(dtype)
    errs = S.check_all(m, b)
    assert errs["permutation"] < 1e-5 and errs["translation"] < 1e-5 and errs["rotation"] < 1e-5, errs
    for seed in range(3):
        assert S.translation_error(m, b, shift=None, seed=seed) < 1e-5
        assert S.rotation_error(m, b, angle=0.5 + seed) < 1e-5
    # the ordinary ParticleNet is not rotation invariant on the same jets
    assert S.rotation_error(pn, b) > 1e-4


def test_lite_and_padded_path(batch_of):
    b = batch_of([9, 3, 1, 6, 8])
    m = trained("particlenet_inv_lite", b)
    assert [c.k for c in m.convs] == [7, 7] and [c.knn_on for c in m.convs] == ["pos", "features"]
    with torch.no_grad():
        ref = m(b)
        torch.testing.assert_close(m.forward_padded(*pad_batch(b, m.padded_inputs)), ref, atol=2e-5, rtol=1e-4)


def test_scalar_columns():
    assert default_scalar_columns(13) == tuple(range(7, 13))
    assert default_scalar_columns(7) == () and default_scalar_columns(None) == ()
    assert InvariantParticleNet(13).input_norm.num_features == 3 + 6
    assert InvariantParticleNet(7, scalar_columns=(2,)).scalar_columns == (2,)
    with pytest.raises(ValueError, match="out of range"):
        InvariantParticleNet(7, scalar_columns=(9,))
