"""The padded inference path of every jet model equals the reference ``forward(batch)``."""

from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError
from pgjets.models import PaddedJetModel, has_padded_path, masked_reduce, pad_batch, MODELS, build_model
from pgjets.ops import knn_graph

F = 7
JET_MODELS = ["particlenet", "particlenet_lite", "part", "part_lite", "pfn", "efn", "deepsets",
              "set_transformer", "gcn", "lorentznet", "particlenet_inv", "particlenet_inv_lite"]


def test_every_registry_model_has_a_padded_path():
    assert all(has_padded_path(build_model(n, F, 2)) for n in MODELS)
    assert sorted(JET_MODELS + ["gridcnn"]) == sorted(MODELS)


@pytest.mark.parametrize("name", JET_MODELS)
def test_padded_path_equals_reference(name, batch_of, small_model):
    model = small_model(name, trained=True)
    # jets smaller than k (3, 1 particles), larger than k, and one of exactly k + 1
    b = batch_of([9, 3, 14, 1, 6, 8])
    if name == "gcn":  # a prebuilt graph, as JetDataset makes for it
        b.edge_index = knn_graph(b.pos, 5, b.batch)
    with torch.no_grad():
        ref = model(b)
        wrapper = PaddedJetModel(model)
        inputs = pad_batch(b, model.padded_inputs)
        assert wrapper.input_names == (*model.padded_inputs, "mask")
        out = wrapper(*inputs)
        # more padding does not change anything
        wider = wrapper(*pad_batch(b, model.padded_inputs, max_num_nodes=20))
    assert out.shape == ref.shape == (6, 2)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(wider, ref, atol=2e-5, rtol=1e-4)


def test_padded_path_is_inference_only(batch_of):
    model = build_model("pfn", F, 2)
    with pytest.raises(RuntimeError, match="eval"):
        model.forward_padded(*pad_batch(batch_of([3, 4]), model.padded_inputs))


def test_padded_knn_matches_knn_graph(batch_of):
    from pgjets.nn.dynamic_edge_conv import padded_knn
    from pgjets.ops import knn_graph

    b = batch_of([9, 3, 14, 1, 6])
    pos, mask = pad_batch(b, ("pos",))
    idx, valid = padded_knn(pos, mask, 4)
    ptr = b.ptr
    got = set()
    for g in range(b.num_graphs):
        for i in range(int(mask[g].sum())):
            for j, ok in zip(idx[g, i].tolist(), valid[g, i].tolist()):
                if ok:
                    got.add((int(ptr[g]) + j, int(ptr[g]) + i))
    ei = knn_graph(b.pos, 4, b.batch, backend="torch")
    assert got == set(map(tuple, ei.t().tolist()))
    assert (valid.sum(-1)[mask] == torch.tensor([4] * 9 + [2] * 3 + [4] * 14 + [0] + [4] * 6)).all()


def test_masked_reduce_and_pad_batch_errors(batch_of):
    x = torch.tensor([[[1.0], [5.0], [9.0]], [[-2.0], [0.0], [0.0]], [[0.0], [0.0], [0.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    assert masked_reduce(x, mask, "sum").view(-1).tolist() == [6.0, -2.0, 0.0]
    assert masked_reduce(x, mask, "mean").view(-1).tolist() == [3.0, -2.0, 0.0]
    assert masked_reduce(x, mask, "max").view(-1).tolist() == [5.0, -2.0, 0.0]
    with pytest.raises(ValueError, match="reduce"):
        masked_reduce(x, mask, "median")
    with pytest.raises(ValueError, match="unknown padded inputs"):
        pad_batch(batch_of([3]), ("energy",))
    with pytest.raises(TypeError, match="no padded path"):
        PaddedJetModel(torch.nn.Linear(2, 2))
    with pytest.raises(InputShapeError, match="edge_index"):
        pad_batch(batch_of([3]), ("x", "adj"))


def test_gridcnn_padded_path_equals_reference(small_model):
    from pgjets.graphs import images_to_batch

    model = small_model("gridcnn")
    g = torch.Generator().manual_seed(0)
    # sparse jet-like images (odd size: partial pooling windows) and one full image
    images = torch.rand(4, 1, 13, 13, generator=g) * (torch.rand(4, 1, 13, 13, generator=g) < 0.25)
    images[3] = torch.rand(1, 13, 13, generator=g) + 0.1
    b = images_to_batch(images, connectivity=8, drop_zeros=True)
    image, mask = pad_batch(b, model.padded_inputs)
    assert image.shape[0] == 4 and mask.shape[1] == 1
    h, w = mask.shape[-2:]  # trailing empty rows/columns are cut
    assert torch.equal(mask, (images != 0)[:, :, :h, :w]) and not (images[:, :, h:] != 0).any()
    assert torch.equal(image, images[:, :, :h, :w])
    with torch.no_grad():
        torch.testing.assert_close(PaddedJetModel(model)(image, mask), model(b), atol=2e-5, rtol=1e-4)


def test_part_without_pair_features(batch_of):
    from pgjets.models import ParticleTransformer

    torch.manual_seed(0)
    model = ParticleTransformer(F, 2, embed_dims=(16,), heads=2, num_layers=1, num_cls_layers=1,
                                use_pair_features=False).eval()
    assert model.padded_inputs == ("x",)
    b = batch_of([5, 2, 8])
    with torch.no_grad():
        torch.testing.assert_close(model.forward_padded(*pad_batch(b, ("x",))), model(b), atol=2e-5, rtol=1e-4)
    with pytest.raises(TypeError, match="forward_padded takes"):
        model.forward_padded(*pad_batch(b, ("x", "p4")))


@pytest.mark.parametrize("features", ["pos_z", "x"])
def test_jetclr_encoder_padded_path(features, batch_of):
    from pgjets.models import JetCLREncoder

    torch.manual_seed(0)
    enc = JetCLREncoder(in_channels=3 if features == "pos_z" else F, channels=16, heads=2,
                        features=features).eval()
    b = batch_of([9, 3, 14, 1, 6])
    b.pt[3] = 0.0  # a soft particle: never attended to, zero weight
    with torch.no_grad():
        out = PaddedJetModel(enc)(*pad_batch(b, enc.padded_inputs))
        torch.testing.assert_close(out, enc(b), atol=2e-5, rtol=1e-4)
    expl = torch._dynamo.explain(PaddedJetModel(enc))(*pad_batch(b, enc.padded_inputs))
    assert expl.graph_break_count == 0


@pytest.mark.parametrize("name", [n for n in JET_MODELS if n != "lorentznet"])
def test_float64_inputs_to_a_float32_model_are_a_typed_error_on_both_paths(name, batch_of):
    from pgjets.errors import InputDtypeError

    model = build_model(name, F, 2).eval()
    b = batch_of([4, 6])
    if name == "gcn":
        b.edge_index = knn_graph(b.pos, 3, b.batch)
    wide = b.clone()
    for key in ("x", "pos", "pt", "p4"):
        if getattr(wide, key, None) is not None:
            wide[key] = wide[key].double()
    with pytest.raises(InputDtypeError, match="float64"):
        model(wide)
    padded = tuple(t.double() if t.is_floating_point() else t for t in pad_batch(b, model.padded_inputs))
    with pytest.raises(InputDtypeError, match="float64"):
        PaddedJetModel(model)(*padded)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts inside: allowed
        model(b)


@pytest.mark.parametrize("name", [n for n in JET_MODELS if n != "lorentznet"])
def test_inputs_of_another_width_or_missing_are_a_typed_error_on_both_paths(name, batch_of):
    from pgjets.models.padded import check_input_shapes

    model = build_model(name, F, 2).eval()
    shapes = model.input_shapes
    b = batch_of([4, 6])
    if name == "gcn":
        b.edge_index = knn_graph(b.pos, 3, b.batch)
    key = next(k for k in ("x", "pos", "p4") if k in shapes and shapes[k][0] is not None)
    wide = b.clone()
    wide[key] = torch.cat([wide[key], wide[key][:, :1]], 1)  # one column too many
    with pytest.raises(InputShapeError, match=rf"{type(model).__name__} reads batch.{key} .*got shape"):
        model(wide)
    gone = b.clone()
    del gone[key]
    with pytest.raises(InputShapeError, match=rf"batch.{key} .*which the batch lacks"):
        model(gone)
    padded = list(pad_batch(b, model.padded_inputs))
    i = list(model.padded_inputs).index(key)
    padded[i] = torch.cat([padded[i], padded[i][..., :1]], -1)
    with pytest.raises(InputShapeError, match=rf"reads {key} \(B, N, .*got shape"):
        PaddedJetModel(model)(*padded)
    if "pt" in shapes:  # a per-particle scalar of the wrong rank, or of other particles
        bad = b.clone()
        bad.pt = bad.pt.unsqueeze(-1)
        with pytest.raises(InputShapeError, match=r"batch.pt \(num_nodes\), got shape"):
            model(bad)
        short = b.clone()
        short.pt = short.pt[:-1]
        with pytest.raises(InputShapeError, match="disagree on the number of particles"):
            model(short)
    check_input_shapes(model, [(k, getattr(b, k)) for k in shapes])  # the batch itself passes


def test_input_shapes_name_the_fields_of_each_model():
    assert build_model("pfn", F, 2).input_shapes == {"x": (F,)}
    assert build_model("efn", F, 2).input_shapes == {"pos": (2,), "pt": ()}
    assert build_model("part", F, 2).input_shapes == {"x": (F,), "p4": (4,)}
    assert build_model("particlenet", F, 2).input_shapes == {"x": (F,), "pos": (None,)}
