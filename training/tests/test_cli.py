# `gateway-training --help` describes every command, and each command's --help lists every
# --set key of its config (nested keys dotted) with its default.
import pytest

from training.cli import COMMANDS, build_parser


def _help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_names_every_command(capsys):
    out = _help(["--help"], capsys)
    assert "--node-modules" in out
    for name in COMMANDS:
        assert f"    {name} " in out


@pytest.mark.parametrize("command,keys", [
    ("train", ["model.arch = ", "kd.temperature = 4.0", "max_steps = 0  (> 0: stop after"]),
    ("clip", ["train.teacher.steps = ", "train.loss = "]),
    ("zoo", ["teacher.model.arch = ", "data.image_size = "]),
    ("export", ["node_modules = \"\"  (where onnxruntime-node lives"]),
    ("simmim", ["mask_ratio = 0.6  (share of patches masked", "model.arch = ", "data.task = \"fine\""]),
    ("crossmodal", ["model.heads = 4", "model.backbone.arch = ", "steps = "]),
    ("nas", ["latency_batch = 1", "data.task = \"fine\"", "data_root = \"\"  (an existing dataset root"]),
    ("ablation", ["data.train_per_class = 512", "data_root = \"\"  (an existing dataset root", "--data DATA"]),
    ("rerank", ["model.context_length = 16", "hard_train_per_class = ", "max_top_k = 16"]),
])
def test_command_help_lists_set_keys(capsys, command, keys):
    out = _help([command, "--help"], capsys)
    assert (COMMANDS[command].__doc__ or "").split()[0] in out
    for k in keys:
        assert k in out, k
