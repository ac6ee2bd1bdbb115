# Dynamic convolution earns its name on real data: trained with the temperature annealed
# 30 -> 1 (Chen et al. 2020), the kernel attention leaves uniform and differs per image;
# at the same temperature the untrained layer's attention stays close to uniform.
import torch

from training.data.loaders import ImageFolderTensors
from training.data.shapes import ShapesConfig, generate
from training.data.transforms import PreprocessConfig, normalize
from training.models import ModelConfig, create_model
from training.models.dynamic_conv import DynamicConv2d, anneal_temperature
from training.train import TrainConfig, run


def _attention(model, x):
    got = []
    hooks = [m.register_forward_hook(lambda m, i, o: got.append(m.mixing_weights(i[0])))
             for m in model.modules() if isinstance(m, DynamicConv2d)]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return got


def _kl_from_uniform(a):
    return float((a * (a * a.shape[1]).log()).sum(1).mean())


def test_kernel_attention_leaves_uniform_after_annealed_training(tmp_path):
    generate(ShapesConfig(root=str(tmp_path / "d"), train_per_class=8, val_per_class=2, workers=1),
             splits=("train", "val"), log=lambda s: None)
    cfg = ModelConfig(dynamic_blocks=2)
    res = run(TrainConfig(data_root=str(tmp_path / "d"), out_dir=str(tmp_path / "r"), model=cfg, epochs=4,
                          batch_size=32, warmup_steps=5, threads=1, log_every_steps=1000))
    trained = res["model"]
    pp = PreprocessConfig()
    x = normalize(ImageFolderTensors(tmp_path / "d" / "val", pp).images, pp)
    torch.manual_seed(0)
    init = create_model(cfg)
    anneal_temperature(init, 1.0)  # same temperature as the trained layers end with
    assert all(float(m.temperature) == 1.0 for m in trained.modules() if isinstance(m, DynamicConv2d))
    for before, after in zip(_attention(init, x), _attention(trained, x)):
        assert _kl_from_uniform(after) > 0.05 and _kl_from_uniform(after) > 3 * _kl_from_uniform(before)
        assert float(after.std(0).mean()) > 0.05  # per image, not one fixed mixture
