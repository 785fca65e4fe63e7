"""``torch.compile`` on every registry model: zero graph breaks, same outputs as eager.

``torch._dynamo.explain`` traces without code generation, so these checks are
cheap.  Every model is traced through its padded path
(:class:`~pgjets.models.padded.PaddedJetModel`, inputs from
:func:`~pgjets.models.padded.pad_batch`).  The padded path is also compiled for real
(``fullgraph=True``) on batches of other sizes and compared with the reference.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

from pgjets.models import PaddedJetModel, compile_padded, pad_batch, MODELS, representation_of

@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def padded_inputs(name, model, batch_of, sizes=(9, 3, 14, 6), seed=0):
    """Padded inputs of a realistic batch (jets of different sizes, or sparse jet images)."""
    rep, k = representation_of(name)
    if rep == "image":
        from pgjets.graphs import images_to_batch

        g = torch.Generator().manual_seed(seed)
        images = torch.rand(len(sizes), 1, 12, 12, generator=g) * (
            torch.rand(len(sizes), 1, 12, 12, generator=g) < 0.3)
        return images_to_batch(images, connectivity=8, drop_zeros=True)
    b = batch_of(list(sizes), seed=seed)
    if k is not None:
        from pgjets.ops import knn_graph

        b.edge_index = knn_graph(b.pos, k, b.batch)
    return b


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_graph_breaks(name, batch_of, small_model):
    model = small_model(name)
    b = padded_inputs(name, model, batch_of)
    expl = torch._dynamo.explain(PaddedJetModel(model))(*pad_batch(b, model.padded_inputs))
    reasons = [str(r.reason) for r in expl.break_reasons]
    assert expl.graph_break_count == 0, reasons
    assert expl.graph_count == 1


def graph_path_breaks(model, batch):
    expl = torch._dynamo.explain(model)(batch)
    return expl.graph_break_count, [(str(r.reason).splitlines()[0], r.user_stack[-1].filename.rsplit("/", 1)[-1])
                                    for r in expl.break_reasons if r.user_stack]


def test_graph_path_training_pfn_has_no_graph_breaks(batch_of, small_model):
    # no host-device synchronisation in a training forward of the graph (PyG Batch) path
    count, reasons = graph_path_breaks(small_model("pfn").train(), batch_of([9, 3, 14, 6]))
    assert count == 0, reasons


def test_graph_path_training_part_has_no_graph_breaks(batch_of, small_model):
    model = small_model("part").train()
    # one pair of scalars per forward is read back (the largest jet, the padded size, and the
    # number of pairs); without capture_scalar_outputs that read is the one break
    count, reasons = graph_path_breaks(model, batch_of([9, 3, 14, 6]))
    assert count > 0 and reasons == [(reasons[0][0], "part.py")], reasons  # one place
    torch._dynamo.reset()
    with torch._dynamo.config.patch(capture_scalar_outputs=True):
        count, reasons = graph_path_breaks(model, batch_of([9, 3, 14, 6]))
    assert count == 0, reasons


@pytest.mark.parametrize("name", ["particlenet", "particlenet_inv"])
def test_graph_path_particlenet_breaks_only_in_its_knn(name, batch_of, small_model, monkeypatch):
    import pgjets.ops.knn as knn_module

    monkeypatch.setattr(knn_module, "torch_cluster_available", lambda: False)  # torch-cluster: not traceable
    count, reasons = graph_path_breaks(small_model(name).train(), batch_of([9, 3, 14, 6]))
    assert count > 0
    assert {file for _, file in reasons} == {"knn.py"}, reasons  # named in docs/deployment.md


def test_debug_mode_turns_the_per_layer_checks_back_on(batch_of, small_model, debug):
    count, reasons = graph_path_breaks(small_model("pfn").train(), batch_of([9, 3, 14, 6]))
    assert count > 0 and any(file == "_checks.py" for _, file in reasons)


@pytest.mark.parametrize("name", ["particlenet", "pfn"])
def test_compiled_padded_path_equals_reference(name, batch_of, small_model):
    model = small_model(name, trained=True)
    compiled = compile_padded(model, backend="eager")  # fullgraph: a break would raise
    with torch.no_grad():
        for sizes in ([9, 3, 14, 6], [2, 17, 5]):
            b = batch_of(sizes, seed=len(sizes))
            out = compiled(b)
            torch.testing.assert_close(out, model(b), atol=2e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in MODELS if not n.endswith("_lite")))  # lite: same code
def test_aot_compiled_padded_path_equals_reference(name, batch_of, small_model):
    model = small_model(name, trained=name != "gridcnn")
    compiled = torch.compile(PaddedJetModel(model), backend="aot_eager", fullgraph=True, dynamic=True)
    with torch.no_grad():
        for sizes in ([9, 3, 14, 6], [2, 17, 5]):
            b = padded_inputs(name, model, batch_of, sizes, seed=len(sizes))
            torch.testing.assert_close(compiled(*pad_batch(b, model.padded_inputs)), model(b),
                                       atol=2e-5, rtol=1e-4)


@pytest.mark.slow
def test_inductor_compiles_particlenet_once_for_all_sizes(batch_of, small_model):
    # real code generation (CPU C++), dynamic jet and particle counts without recompiling
    model = small_model("particlenet", trained=True)
    compiled = torch.compile(PaddedJetModel(model), fullgraph=True, dynamic=True)
    with torch.no_grad():
        for i, sizes in enumerate(([9, 3, 14, 6], [2, 17, 5, 30, 4], [8, 8])):
            b = batch_of(sizes, seed=len(sizes))
            with torch._dynamo.config.patch(error_on_recompile=i > 0):
                out = compiled(*pad_batch(b, model.padded_inputs))
            torch.testing.assert_close(out, model(b), atol=2e-5, rtol=1e-4)


def test_graph_path_particlenet_does_not_recompile_for_new_batches(batch_of, small_model):
    """The data-dependent kNN runs eagerly (one break per call), so new jet sizes do not recompile it.

    Traced, its pieces (size buckets, re-ranked rows) were specialised on every batch's sizes
    and recompiled until dynamo's recompile limit.  What may still specialise is bounded and
    seen in the warm-up: static to dynamic sizes, and whether every node got exactly k
    neighbours (a jet smaller than k + 1 particles) in each block.
    """
    model = small_model("particlenet").train()
    compiled = torch.compile(model, backend="eager")
    for seed, sizes in enumerate(([9, 3, 14, 6], [12, 30, 6, 8, 17], [20, 2, 11])):
        compiled(batch_of(sizes, seed=seed))
    with torch._dynamo.config.patch(error_on_recompile=True):
        for seed, sizes in enumerate(([25, 4, 11], [7, 40, 19, 22, 3, 9], [16, 16, 33, 10]), start=3):
            b = batch_of(sizes, seed=seed)
            torch.manual_seed(0)
            got = compiled(b)
            torch.manual_seed(0)
            assert torch.allclose(got, model(b), atol=1e-5)
