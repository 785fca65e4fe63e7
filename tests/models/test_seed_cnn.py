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


@pytest.mark.parametrize("size, kernel, channels", [
    (21, 5, (5, 10)), (23, 5, (5, 10)), (16, 3, (4, 6)), (19, 3, (4,)), (22, 5, (3, 4)),
])
def test_seed_cnn_equals_its_reference_when_a_conv_output_has_an_odd_side(size, kernel, channels):
    """MaxPool2d drops an odd last row/column (floor mode): the graph model must pool the same way."""
    torch.manual_seed(2)
    ref = seed_image_cnn(image_size=size, kernel_size=kernel, channels=channels)
    model = SeedImageCNN(image_size=size, kernel_size=kernel, channels=channels).load_reference(ref)
    imgs = torch.rand(3, 1, size, size)
    torch.testing.assert_close(model(images_to_batch(imgs, radius=kernel // 2)), ref(imgs), atol=1e-5, rtol=1e-4)


def test_seed_cnn_refuses_neighbourhoods_smaller_than_its_kernel():
    model = SeedImageCNN()  # 5x5 kernels need radius-2 neighbourhoods; radius 1 gave other logits silently
    with pytest.raises(InputShapeError, match=r"radius >= 2 neighbourhoods.*images_to_batch\(images, radius=2\)"):
        model(images_to_batch(torch.rand(2, 1, 20, 20), radius=1))
