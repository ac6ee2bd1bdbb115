# Classifier models: shapes, FLOP ratios, and the dynamic convolution's fast path
# (mix kernels, one grouped conv) against the slow path (K convs, mix outputs).
import pytest
import torch

from training.models import ModelConfig, count_macs, count_params, create_model
from training.models.convnext import Block, LayerNorm2d
from training.models.dynamic_conv import DynamicConv2d, anneal_temperature
from training.models.onnx_flops import graph_cost


def test_dynamic_conv_fast_equals_reference_for_same_mixing_weights():
    torch.manual_seed(0)
    for groups, cin, cout, stride, bias in ((1, 6, 8, 1, True), (6, 6, 6, 2, False), (2, 4, 6, 1, True)):
        m = DynamicConv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=bias, num_experts=3)
        if bias:
            torch.nn.init.normal_(m.bias)
        x = torch.randn(5, cin, 9, 9)
        attn = torch.softmax(torch.randn(5, 3), dim=1)
        fast, slow = m(x, attn), m.forward_reference(x, attn)
        assert fast.shape == slow.shape == (5, cout, (9 - 1) // stride + 1, (9 - 1) // stride + 1)
        assert torch.allclose(fast, slow, atol=1e-5), (fast - slow).abs().max()
        # and with the attention branch's own weights
        assert torch.allclose(m(x), m.forward_reference(x), atol=1e-5)


def test_dynamic_conv_mixes_per_sample():
    m = DynamicConv2d(2, 2, 1, num_experts=2)
    with torch.no_grad():
        m.weight.zero_()
        m.expert(0)[0, 0] = 1.0
        m.expert(1)[0, 0] = 3.0
    x = torch.ones(2, 2, 1, 1)
    out = m(x, torch.tensor([[1.0, 0.0], [0.25, 0.75]]))
    assert out[0, 0].item() == 1.0 and out[1, 0].item() == 0.25 * 1 + 0.75 * 3


def test_models_output_shape_and_teacher_student_flops():
    student = create_model(ModelConfig())
    teacher = create_model(ModelConfig(arch="resnet_teacher", resnet_width=32))
    x = torch.randn(2, 3, 64, 64)
    student.eval(), teacher.eval()
    assert student(x).shape == teacher(x).shape == (2, 64)
    assert count_macs(teacher) >= 4 * count_macs(student)


def test_student_with_dynamic_blocks_runs_and_uses_dynamic_conv():
    m = create_model(ModelConfig(dynamic_blocks=2, dynamic_experts=4)).eval()
    assert sum(isinstance(mod, DynamicConv2d) for mod in m.modules()) == 2
    assert m(torch.randn(3, 3, 64, 64)).shape == (3, 64)


def test_dynamic_conv_student_exports_with_dynamic_batch_and_parity(tmp_path):
    import numpy as np

    from training.export import export_onnx, parity

    torch.manual_seed(0)
    m = create_model(ModelConfig(dynamic_blocks=2)).eval()
    with torch.no_grad():  # make the logits non-trivial (fresh init gives near-zero outputs)
        for p in m.classifier.parameters():
            p.normal_(0, 0.5)
    proto = export_onnx(m, tmp_path / "model.onnx", [64, 64])
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    x = np.random.default_rng(0).normal(size=(3, 3, 64, 64)).astype(np.float32)
    assert parity(proto, m, x) <= 1e-4


def test_dynamic_student_trains_channels_last():
    # the default memory format: every parameter (expert kernels included) must accept it
    m = create_model(ModelConfig(dynamic_blocks=2)).to(memory_format=torch.channels_last).train()
    x = torch.randn(4, 3, 64, 64).to(memory_format=torch.channels_last)
    loss = m(x).logsumexp(1).mean()
    loss.backward()
    dyn = [mod for mod in m.modules() if isinstance(mod, DynamicConv2d)]
    assert len(dyn) == 2 and all(d.weight.grad is not None and d.weight.grad.abs().sum() > 0 for d in dyn)
    ref = create_model(ModelConfig(dynamic_blocks=2)).eval()
    ref.load_state_dict(m.state_dict())
    assert torch.allclose(ref(x.contiguous()), m.eval()(x), atol=1e-4)


def test_temperature_anneals_from_30_to_1_then_stays():
    m = create_model(ModelConfig(dynamic_blocks=1))
    assert anneal_temperature(m, 0.0) == 30.0
    assert anneal_temperature(m, 0.15, anneal_fraction=0.3) == pytest.approx(15.5)
    assert anneal_temperature(m, 0.3, anneal_fraction=0.3) == 1.0 == anneal_temperature(m, 0.9)
    d = next(mod for mod in m.modules() if isinstance(mod, DynamicConv2d))
    assert float(d.temperature) == 1.0 and "temperature" in dict(m.named_buffers()).__repr__()


def test_convnext_teacher_blocks_and_cost():
    m = create_model(ModelConfig(arch="convnext_teacher"))
    blocks = [b for b in m.modules() if isinstance(b, Block)]
    assert len(blocks) == 12 and all(b.dwconv.kernel_size == (7, 7) and b.dwconv.groups == b.dwconv.in_channels for b in blocks)
    assert all(isinstance(b.act, torch.nn.GELU) and b.gamma is not None and b.pwconv1.out_channels == 4 * b.pwconv1.in_channels
               for b in blocks)
    assert m.downsample[0][0].kernel_size == m.downsample[0][0].stride == (4, 4)  # patchify stem
    assert all(isinstance(b.norm, LayerNorm2d) for b in blocks)
    assert blocks[-1].drop_path_rate == pytest.approx(0.1) and blocks[0].drop_path_rate == 0.0
    x = torch.randn(16, 3, 64, 64)
    deep = create_model(ModelConfig(arch="convnext_teacher", drop_path=0.5)).train()
    for b in deep.modules():  # layer scale starts at 1e-6: make the residual branches visible
        if isinstance(b, Block):
            b.gamma.data.fill_(1.0)
    torch.manual_seed(0)
    a = deep(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, deep(x))  # stochastic depth is active in training
    m.eval()
    assert torch.equal(m(x), m(x)) and m(x).shape == (16, 64)
    assert count_macs(m) >= 4 * count_macs(create_model(ModelConfig()))


def test_convnext_conv_stem_sits_before_the_patchify_and_keeps_the_stage_sizes():
    plain = create_model(ModelConfig(arch="convnext_teacher"))
    stem = create_model(ModelConfig(arch="convnext_teacher", convnext_stem_convs=(16, 32), convnext_stem_strides=(1, 2),
                                    convnext_stem=2))
    convs = [m for m in stem.downsample[0][0] if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (1, 1)), ((3, 3), (2, 2))]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in stem.downsample[0][0])
    patchify = stem.downsample[0][1]
    assert patchify.kernel_size == patchify.stride == (2, 2) and isinstance(stem.downsample[0][2], LayerNorm2d)
    x = torch.randn(2, 3, 64, 64)
    assert stem.downsample[0](x).shape == plain.downsample[0](x).shape == (2, 32, 16, 16)
    assert stem.eval()(x).shape == (2, 64)
    with pytest.raises(ValueError, match="one stride per conv"):
        create_model(ModelConfig(arch="convnext_teacher", convnext_stem_convs=(16, 32), convnext_stem_strides=(1,)))


def test_convnext_block_norm_is_layernorm_by_default_and_batchnorm_or_per_map_layernorm_on_request():
    ln = create_model(ModelConfig(arch="convnext_teacher"))
    bn = create_model(ModelConfig(arch="convnext_teacher", convnext_block_norm="batch"))
    chw = create_model(ModelConfig(arch="convnext_teacher", convnext_block_norm="layer_chw"))
    assert all(isinstance(b.norm, LayerNorm2d) for stage in ln.stages for b in stage)
    assert all(isinstance(b.norm, torch.nn.BatchNorm2d) for stage in bn.stages for b in stage)
    # per map: each image's whole C x H x W map has mean 0 and variance 1, not each pixel's channels
    y = chw.stages[0][0].norm(torch.randn(2, 32, 8, 8) * 3 + 1)
    assert torch.allclose(y.mean((1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y.var((1, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)
    assert not torch.allclose(y.mean(1), torch.zeros(2, 8, 8), atol=1e-2)
    # only the blocks change: the stem, downsampling and head norms stay LayerNorm
    assert isinstance(bn.downsample[1][0], LayerNorm2d) and isinstance(bn.norm, torch.nn.LayerNorm)
    assert bn.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 64)
    with pytest.raises(ValueError, match="valid: layer, layer_chw, batch"):
        create_model(ModelConfig(arch="convnext_teacher", convnext_block_norm="group"))


def test_card_cost_is_counted_from_the_exported_graph(tmp_path):
    from training.export import export_onnx

    static = create_model(ModelConfig()).eval()
    dynamic = create_model(ModelConfig(dynamic_blocks=2)).eval()
    cs = graph_cost(export_onnx(static, tmp_path / "s.onnx", [64, 64]))
    cd = graph_cost(export_onnx(dynamic, tmp_path / "d.onnx", [64, 64]))
    assert cs["macs"] == count_macs(static) == 5_558_016  # no hidden ops in a static graph
    # the exported dynamic conv runs K=4 convolutions and mixes them: more than the training form
    assert cd["macs"] == 6_070_656 > count_macs(dynamic) == 5_840_256
    assert 0.98 < cs["params"] / count_params(static) <= 1.0  # BatchNorm statistics folded into the convs


def test_layer_chw_graph_is_counted_and_evaluated(tmp_path):
    from training.export import export_onnx

    # torch exports GroupNorm as Shape -> Reshape -> InstanceNormalization -> Reshape: without
    # data propagation the head's input shape is lost and the Gemm cannot be counted
    model = create_model(ModelConfig(arch="convnext_teacher", convnext_block_norm="layer_chw")).eval()
    graph = export_onnx(model, tmp_path / "chw.onnx", [64, 64])
    assert "InstanceNormalization" in {n.op_type for n in graph.graph.node}
    assert graph_cost(graph)["macs"] == count_macs(model)
    # and the NumPy evaluator that export's parity check uses runs it as PyTorch does
    from training import onnx_eval

    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(onnx_eval.run(graph, {"input": x.numpy()})[0] - expected).max() < 1e-4
