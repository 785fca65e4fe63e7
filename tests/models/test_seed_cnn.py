from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError
from pgjets.graphs import images_to_batch
from pgjets.models import SeedImageCNN, seed_image_cnn


def test_seed_cnn_equals_conv2d_reference():
    torch.manual_seed(0)
    ref = seed_image_cnn()
    n_params = sum(p.numel() for p in ref.parameters())
    assert n_params == 3505  # the seed's count
    model = SeedImageCNN().load_reference(ref)
    imgs = torch.rand(4, 1, 20, 20)
    out = model(images_to_batch(imgs, radius=2))
    assert out.shape == (4, 5)
    assert torch.allclose(out, ref(imgs), atol=1e-5)
    out.sum().backward()
    assert model.convs[0].weight.grad is not None


def test_seed_cnn_other_size_and_bad_input():
    torch.manual_seed(1)
    ref = seed_image_cnn(num_classes=2, image_size=24, channels=(3, 4))
    model = SeedImageCNN(num_classes=2, image_size=24, channels=(3, 4)).load_reference(ref)
    imgs = torch.rand(2, 1, 24, 24)
    assert torch.allclose(model(images_to_batch(imgs, radius=2)), ref(imgs), atol=1e-5)
    with pytest.raises(InputShapeError):
        model(images_to_batch(torch.rand(2, 1, 20, 20), radius=2))
    with pytest.raises(ValueError):
        SeedImageCNN(image_size=8)
    with pytest.raises(InputShapeError):
        SeedImageCNN().load_reference(ref)
