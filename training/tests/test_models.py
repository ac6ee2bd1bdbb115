# Classifier models: shapes, FLOP ratios, and the dynamic convolution's fast path
# (mix kernels, one grouped conv) against the slow path (K convs, mix outputs).
import torch

from training.models import ModelConfig, count_macs, create_model
from training.models.dynamic_conv import DynamicConv2d


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
        m.weight[0, 0, 0] = 1.0
        m.weight[1, 0, 0] = 3.0
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
