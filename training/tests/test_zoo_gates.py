# `zoo` refuses to ship a student that is not smaller than its teacher, or that misses the
# card's accuracy or parity gates, and says which gate failed.
import pytest

from training.zoo import ZooGateError, ZooGates, check_gates


def _card(macs, top1, worst=1e-6):
    return {"macs": macs, "eval": {"top1": top1}, "onnx": {"ortParity": {"worst": worst}}}


def test_gates_pass_and_report_what_they_measured():
    m = check_gates(ZooGates(min_teacher_top1=0.9, min_student_top1=0.8), _card(36_000_000, 0.93), _card(5_600_000, 0.85))
    assert m["studentFlopsRatio"] == pytest.approx(5.6 / 36) and m["teacherTop1"] == 0.93 and m["studentTop1"] == 0.85


@pytest.mark.parametrize("teacher,student,message", [
    (_card(4_000_000, 0.9), _card(5_400_000, 0.8), "student/teacher FLOPs 1.350 > 0.25"),
    (_card(36_000_000, 0.5), _card(5_000_000, 0.8), "teacher top-1 0.5000 < 0.9"),
    (_card(36_000_000, 0.95), _card(5_000_000, 0.6), "student top-1 0.6000 < 0.8"),
    (_card(36_000_000, 0.95), _card(5_000_000, 0.85, worst=3e-3), "onnxruntime parity 3.00e-03 > 0.0001"),
])
def test_a_missed_gate_fails_loudly(teacher, student, message):
    with pytest.raises(ZooGateError, match=message.replace(".", r"\.").replace("+", r"\+")):
        check_gates(ZooGates(min_teacher_top1=0.9, min_student_top1=0.8), teacher, student)


def test_a_teacher_checkpoint_must_come_from_the_zoos_teacher_recipe(tmp_path):
    import torch

    from training.config import to_dict
    from training.zoo import ZooConfig, check_teacher_recipe

    recipe = ZooConfig().teacher
    ran = to_dict(recipe) | {"data_root": "/elsewhere", "out_dir": "/elsewhere/run", "threads": 2}
    torch.save({"train_config": ran}, tmp_path / "same.pt")
    check_teacher_recipe(recipe, str(tmp_path / "same.pt"))  # bookkeeping keys may differ
    torch.save({"train_config": ran | {"lr": recipe.lr / 2, "epochs": 3}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=rf"another recipe: epochs=3 \(zoo: {recipe.epochs}\), lr=0.001 \(zoo: 0.002\)"):
        check_teacher_recipe(recipe, str(tmp_path / "other.pt"))
