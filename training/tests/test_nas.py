# Latency-aware one-shot NAS (training/models/supernet.py, nas_latency.py, nas_run.py): the
# proximal steps give one-hot / boxed architecture weights and drive the choice to the
# fastest ops when latency dominates; the expected latency is differentiable and equals the
# table; the supernet's architecture gradient is exact; the derived child is the supernet's
# path, exports to ONNX and runs in onnxruntime-node; a table measured with onnxruntime-node
# has the search space's shape and refuses another space. TINY's space has dynamic ops, so
# every test on it covers the dynamic depthwise conv too.
import json

import pytest
import torch
import torch.nn.functional as F

from training import ort_parity
from training.export import export_onnx
from training.models.dynamic_conv import DynamicConv2d
from training.models.supernet import (SKIP, ChildNet, MixedOp, OpSpec, Supernet, SupernetConfig, derive_child,
                                      positions, prox_box, prox_one_hot)
from training.nas_latency import LatencyConfig, LatencyTable, attribute, fit_entries, measure_table, node_group
from training.nas_run import arch_step

TINY = SupernetConfig(num_classes=3, stem_channels=8, plan=[(8, 1), (12, 2)], kernels=[3, 5], expansions=[2],
                      se=[False, True], dynamic=[False, True], head_channels=16)


def _fake_table(cfg: SupernetConfig, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    entries = []
    for cin, cout, s, specs in positions(cfg):
        ms = {o.name: {"1": 0.0 if o == SKIP else float(torch.rand((), generator=g)) + 0.1,
                       "8": 0.0 if o == SKIP else float(torch.rand((), generator=g)) + 0.5} for o in specs}
        entries.append({"in_channels": cin, "out_channels": cout, "stride": s, "input_hw": 0,
                        "ops": [o.name for o in specs], "ms": ms})
    return {"fixed_ms": {"stem": {"1": 0.2, "8": 1.0}, "head": {"1": 0.05, "8": 0.1}}, "positions": entries}


def test_proximal_steps_give_one_hot_rows_and_the_box():
    valid = torch.tensor([[True, True, True, True], [True, True, False, False]])
    alpha = torch.tensor([[0.2, 1.7, -0.3, 0.9], [-1.0, -2.0, 5.0, 5.0]])
    bar = prox_one_hot(alpha, valid)
    assert torch.equal(bar, torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))  # padded columns never win
    assert torch.equal(prox_box(alpha, valid), torch.tensor([[0.2, 1.0, 0.0, 0.9], [0.0, 0.0, 0.0, 0.0]]))


def test_expected_latency_is_differentiable_and_equals_the_table():
    net = Supernet(TINY)
    raw = _fake_table(TINY)
    for batch in (1, 8):
        table = LatencyTable(raw, TINY, batch)
        alpha = torch.rand(net.valid.shape).masked_fill(~net.valid, 0.0)
        bar = prox_one_hot(alpha, net.valid).requires_grad_()
        ms = table.expected_ms(bar)
        choice = net.choice(alpha)
        want = raw["fixed_ms"]["stem"][str(batch)] + raw["fixed_ms"]["head"][str(batch)] + sum(
            raw["positions"][i]["ms"][o.name][str(batch)] for i, o in enumerate(choice))
        assert float(ms) == pytest.approx(want) and table.lookup_ms(choice) == pytest.approx(want)
        ms.backward()
        for i, e in enumerate(raw["positions"]):   # d E[ms] / d alpha_bar[i, j] = op j's table entry
            got = bar.grad[i, : len(e["ops"])].tolist()
            assert got == pytest.approx([e["ms"][n][str(batch)] for n in e["ops"]])


def test_mixed_op_architecture_gradient_is_exact():
    torch.manual_seed(0)
    specs = [OpSpec(3, 2, False), OpSpec(5, 2, True, dynamic=True), SKIP]
    m = MixedOp(specs, 8, 8, 1, 0, 0.1).eval()
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    target = torch.randn(2, 8, 6, 6)
    w = torch.tensor([0.0, 1.0, 0.0], requires_grad=True)
    loss = ((m(x, w, arch_grad=True) - target) ** 2).sum()
    gw, gx, gp = torch.autograd.grad(loss, (w, x, m.ops[1].body[0].weight))
    # reference: the full mixture with every gradient
    w2 = w.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    ref = ((sum(w2[i] * op(x2) for i, op in enumerate(m.ops)) - target) ** 2).sum()
    rw, rx, rp = torch.autograd.grad(ref, (w2, x2, m.ops[1].body[0].weight))
    assert torch.allclose(gw, rw, rtol=1e-4, atol=1e-4)
    assert torch.allclose(gx, rx, rtol=1e-4, atol=1e-4) and torch.allclose(gp, rp, rtol=1e-4, atol=1e-4)
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)


def test_search_with_latency_alone_drives_alpha_to_the_fastest_ops():
    torch.manual_seed(0)
    net = Supernet(TINY)
    raw = _fake_table(TINY, seed=3)
    table = LatencyTable(raw, TINY, 1)
    alpha = (0.5 + 1e-3 * torch.rand(net.valid.shape)).masked_fill(~net.valid, 0.0).requires_grad_()
    opt = torch.optim.SGD([alpha], lr=0.005)   # a plain proximal-gradient step, as NASP
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    start = table.lookup_ms(net.choice(alpha))
    for _ in range(15):
        terms = arch_step(net, alpha, opt, x, y, table, lam=10.0, target_ms=1.0)   # latency dominates CE
    fastest = [min(e["ops"], key=lambda n: e["ms"][n]["1"]) for e in raw["positions"]]
    assert [s.name for s in net.choice(alpha)] == fastest
    assert terms["ms"] == pytest.approx(table.lookup_ms(net.choice(alpha))) and terms["ms"] < start
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0 and float(alpha[~net.valid].abs().sum()) == 0.0


def test_dynamic_ops_are_candidates_and_anneal_in_the_warm_up_and_the_children():
    from training.nas_latency import cheapest
    from training.nas_run import NasRunConfig, train_from_scratch, warm_up

    names = [o.name for o in positions(TINY)[0][3]]
    assert names == ["k3_e2", "k3_e2_dyn", "k3_e2_se", "k3_e2_se_dyn", "k5_e2", "k5_e2_dyn", "k5_e2_se",
                     "k5_e2_se_dyn", "skip"]
    assert cheapest(positions(TINY)[1][3]).name == "k3_e2"    # never a dynamic op
    torch.manual_seed(0)
    net = Supernet(TINY)
    temps = lambda m: {float(d.temperature) for d in m.modules() if isinstance(d, DynamicConv2d)}   # noqa: E731
    assert temps(net) == {30.0}
    cfg = NasRunConfig(supernet=TINY, warmup_steps=4, child_steps=4, batch_size=4, dynamic_anneal_fraction=0.5,
                       log_every_steps=100)
    batches = iter(lambda: (torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])), None)
    warm_up(cfg, net, batches, log=lambda m: None)
    assert temps(net) == {1.0}   # annealed 30 -> 1 over the first half of the warm-up
    child = ChildNet(TINY, positions(TINY)[0][3][1:2] + positions(TINY)[1][3][1:2])
    images, labels = torch.rand(8, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    seen = []
    child.register_forward_pre_hook(lambda m, a: seen.append(sorted(temps(m))))
    train_from_scratch(cfg, child, images, labels, log=lambda m: None, tag="t")
    assert seen[0] == [30.0] and seen[1] == [15.5] and seen[-1] == [1.0]   # the child anneals from the start


def test_hinge_latency_term_is_free_below_the_target_and_the_search_stops_there():
    from training.nas_run import NasRunConfig, latency_penalty, searches

    for ms, kind, want, slope in ((0.4, "hinge", 0.0, 0.0), (0.75, "hinge", 1.0, 4.0), (0.4, "linear", 1.6, 4.0)):
        x = torch.tensor(ms, requires_grad=True)
        pen = latency_penalty(x, 2.0, 0.5, kind)
        pen.backward()
        assert float(pen) == pytest.approx(want) and float(x.grad) == pytest.approx(slope), kind
    with pytest.raises(ValueError, match="latency_loss"):
        latency_penalty(torch.tensor(1.0), 1.0, 1.0, "square")
    torch.manual_seed(0)
    net = Supernet(TINY)
    raw = _fake_table(TINY, seed=3)
    table = LatencyTable(raw, TINY, 1)
    alpha = (0.5 + 1e-3 * torch.rand(net.valid.shape)).masked_fill(~net.valid, 0.0).requires_grad_()
    start = table.lookup_ms(net.choice(alpha))
    fastest = table.fixed_ms + sum(min(e["ms"][n]["1"] for n in e["ops"]) for e in raw["positions"])
    target = fastest + 0.5 * (start - fastest)
    opt = torch.optim.SGD([alpha], lr=0.005)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    trace = [arch_step(net, alpha, opt, x, y, table, lam=10.0, target_ms=target, latency_loss="hinge")
             for _ in range(30)]
    assert trace[0]["ms"] > target and trace[-1]["ms"] <= target   # pushed under the target ...
    for t in trace:   # ... by a latency gradient that is there above the target only
        assert (t["lat_grad_abs"] > 0.0) == (t["ms"] > target), t
    assert [r[:3] for r in searches(NasRunConfig(latency_loss="hinge", targets_ms=(0.15, 0.3), lambdas=(1.0,)))] == \
        [(1.0, 0.15, "target 0.15 ms, lambda 1"), (1.0, 0.3, "target 0.3 ms, lambda 1")]
    with pytest.raises(ValueError, match="hinge"):
        searches(NasRunConfig(targets_ms=(0.15,)))


def test_derived_child_is_the_supernet_path_and_exports(tmp_path):
    torch.manual_seed(0)
    net = Supernet(TINY)
    net.train()
    for _ in range(2):   # move BatchNorm statistics away from their init, so copying them is checked
        net(torch.randn(4, 3, 32, 32), prox_one_hot(torch.rand(net.valid.shape), net.valid))
    alpha = torch.rand(net.valid.shape).masked_fill(~net.valid, 0.0)
    alpha[0, 3] = alpha[1, 1] = 2.0   # dynamic ops at both positions: k3_e2_se_dyn, k3_e2_dyn
    child = derive_child(net, alpha).eval()
    assert [s.name for s in child.choice] == ["k3_e2_se_dyn", "k3_e2_dyn"]
    assert sum(isinstance(m, DynamicConv2d) for m in child.modules()) == 2
    net.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(child(x), net(x, prox_one_hot(alpha, net.valid)), atol=1e-5)
    path = tmp_path / "child.onnx"
    export_onnx(child, path, [32, 32])
    got = ort_parity.run_graph(path, "input", "logits", x.numpy())
    with torch.no_grad():
        assert float((torch.from_numpy(got) - child(x)).abs().max()) <= 1e-4
    with pytest.raises(ValueError, match="not a candidate"):
        ChildNet(TINY, [OpSpec(3, 2, False), SKIP])   # skip cannot change 8 -> 12 channels at stride 2


def test_latency_table_is_measured_inside_whole_children_and_checked_against_the_space():
    cfg = SupernetConfig(num_classes=3, stem_channels=8, plan=[(8, 1), (12, 2)], kernels=[3, 5], expansions=[2],
                         se=[False, True], dynamic=[False], head_channels=8)
    lat = LatencyConfig(image_size=16, warmup=1, rounds=3, runs_per_round=1, profile_runs=3, reference_copies=1,
                        validate=2)
    raw = measure_table(cfg, lat, log=lambda m: None)
    json.dumps(raw)
    assert raw["runtime"].startswith("onnxruntime-node ")
    e0, e1 = raw["positions"]
    assert e0["ops"] == ["k3_e2", "k3_e2_se", "k5_e2", "k5_e2_se", "skip"] and len(e1["ops"]) == 4 and e1["input_hw"] == 8
    assert e0["ms"]["skip"] == {"1": 0.0, "8": 0.0}
    assert all(v >= 0.0 for e in (e0, e1) for op in e["ms"].values() for v in op.values())
    refs = [tuple(c) for c in raw["reference_children"]]
    for i, e in enumerate(raw["positions"]):   # every op of every position is in a reference child
        assert {c[i] for c in refs} == set(e["ops"])
    assert len(raw["validation"]) == 2 and all(tuple(v["architecture"]) not in refs for v in raw["validation"])
    for b in ("1", "8"):
        table = LatencyTable(raw, cfg, int(b))
        for v in raw["validation"]:   # the recorded prediction is the table's lookup
            choice = [next(o for o in p[3] if o.name == n) for n, p in zip(v["architecture"], positions(cfg))]
            assert v[f"batch {b}"]["predicted_ms"] == pytest.approx(table.lookup_ms(choice), abs=1e-4)
            assert v[f"batch {b}"]["measured_ms"] > 0.0
    with pytest.raises(ValueError, match="another search space"):
        LatencyTable(raw, SupernetConfig(num_classes=3, stem_channels=8, plan=[(8, 1), (12, 2)], kernels=[3, 7],
                                         expansions=[2], se=[False, True], dynamic=[False], head_channels=8), 1)
    with pytest.raises(ValueError, match="another search space"):   # the same space with dynamic ops added
        LatencyTable(raw, SupernetConfig(num_classes=3, stem_channels=8, plan=[(8, 1), (12, 2)], kernels=[3, 5],
                                         expansions=[2], se=[False, True], head_channels=8), 1)
    with pytest.raises(ValueError, match="no batch 4"):
        LatencyTable(raw, cfg, 4)


def test_profiled_nodes_go_to_the_block_their_name_carries():
    profile = {"names": ["ReorderInput", "/model/stem/stem.0/Conv_output_0_nchwc", "/model/blocks/blocks.0/body/body.0/Conv",
                         "ReorderOutput_token_7", "/model/blocks/blocks.2/Add", "/model/head/head.6/Gemm"],
               "us": [[1, 10, 20, 3, 40, 5], [2, 30, 21, 3, 41, 5], [1, 11, 22, 4, 39, 6]]}
    got = attribute(profile, 0.0)
    assert list(got) == ["stem", "0", "2", "head"]
    assert {g: v["nodes"] for g, v in got.items()} == {"stem": 2, "0": 2, "2": 1, "head": 1}
    # the low quantile of each group's per-run sum: stem runs 11 / 32 / 12 µs, block 0 23 / 24 / 26
    assert got["stem"]["ms"] == pytest.approx(0.011) and got["0"]["ms"] == pytest.approx(0.023)
    assert node_group("/model/blocks/blocks.12/body/body.3/Conv") == "12" and node_group("ReorderInput") is None


def test_fitted_entries_explain_the_whole_graphs_and_fall_back_to_the_profile():
    g = torch.Generator().manual_seed(0)
    true = {"fixed": 0.05, **{(i, n): float(torch.rand((), generator=g)) * 0.1 + 0.01 for i in range(3)
                              for n in ("a", "b", "c")}}
    children = [[("a", "b", "c")[(j + i * k) % 3] for i in range(3)] for j in range(3) for k in range(1, 4)]
    children += [["a", "a", "a"], ["b", "b", "b"], ["c", "c", "c"], ["a", "b", "b"]]
    wall = [true["fixed"] + sum(true[(i, n)] for i, n in enumerate(c)) for c in children]
    prior = {k: v * 1.3 for k, v in true.items()}   # the profile overstates every entry by 30 %
    fitted = fit_entries(prior, children, wall, weight=1e-6)
    for c, w in zip(children, wall):
        assert fitted["fixed"] + sum(fitted[(i, n)] for i, n in enumerate(c)) == pytest.approx(w, rel=1e-3)
    assert fit_entries(prior, children, wall, weight=1e6) == pytest.approx(prior, rel=1e-3)


def test_committed_table_predicts_held_out_children_within_15_percent():
    """The committed table (training/configs/nas_latency.json) as measured: its lookup gives
    the predictions it recorded, and on children it was not built from (the architectures the
    searches found, and random ones), timed whole in the same process, it is within 15 %."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    raw = json.loads((root / "configs" / "nas_latency.json").read_text())
    net = SupernetConfig(**{k: v for k, v in raw["supernet"].items()})
    found = yaml.safe_load((root / "configs" / "nas_latency.yaml").read_text())["validate_architectures"]
    recorded = {" ".join(v["architecture"]) for v in raw["validation"]}
    assert set(found) <= recorded and len(raw["validation"]) >= len(found) + 8
    refs = {" ".join(c) for c in raw["reference_children"]}
    for b in ("1", "8"):
        table = LatencyTable(raw, net, int(b))
        for v in raw["validation"]:
            assert " ".join(v["architecture"]) not in refs
            choice = [next(o for o in p[3] if o.name == n) for n, p in zip(v["architecture"], positions(net))]
            got = v[f"batch {b}"]
            assert got["predicted_ms"] == pytest.approx(table.lookup_ms(choice), abs=1e-4)
            assert abs(got["predicted_ms"] - got["measured_ms"]) <= 0.15 * got["measured_ms"], (b, v)


def test_nas_run_at_toy_size(tmp_path):
    from training.data.shapes import hard_config
    from training.nas_run import NasRunConfig, run_nas

    space = SupernetConfig(num_classes=8, stem_channels=8, plan=[(8, 2), (12, 2)], kernels=[3, 5], expansions=[2],
                           se=[False], dynamic=[False], head_channels=16)
    cfg = NasRunConfig(out_dir=str(tmp_path), supernet=space, latency_table=str(tmp_path / "missing.json"),
                       latency=LatencyConfig(warmup=1, rounds=2, runs_per_round=1, profile_runs=2,
                                             reference_copies=1, validate=1), lambdas=(0.0, 5.0),
                       warmup_steps=2, search_steps=2, arch_every=1, child_steps=2, batch_size=4, log_every_steps=1,
                       data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1, workers=1))
    res = run_nas(cfg)
    rows = res["rows"]
    assert list(rows) == ["found, lambda 0", "found, lambda 5", "hand-designed MobileNetV3-small student"]
    for name, r in rows.items():
        assert r["parity"] <= 1e-4 and set(r["measured_ms"]) == {"1", "8"}, name   # exported, checked, timed
        if name.startswith("found"):
            table = LatencyTable(json.loads((tmp_path / "nas_latency.json").read_text()), space, 1)
            choice = [next(o for o in specs if o.name == n) for n, (_, _, _, specs) in
                      zip(r["architecture"], positions(space))]
            assert r["predicted_ms"]["1"] == pytest.approx(table.lookup_ms(choice))
    md = (tmp_path / "nas.md").read_text()
    assert "| found, lambda 5 |" in md and "| hand-designed MobileNetV3-small student |" in md


def test_export_takes_a_found_child_checkpoint(tmp_path):
    import json as json_

    from training.export import ExportConfig, export
    from training.models.supernet import child_from_names
    from training.nas_run import NasRunConfig, child_checkpoint
    from training.train import model_from_checkpoint

    torch.manual_seed(0)
    names = ["k5_e2_se_dyn", "k3_e2"]
    child = child_from_names(TINY, names)
    child.train()
    child(torch.randn(4, 3, 64, 64))   # BatchNorm statistics off their init, so the export must carry them
    classes = ["a", "b", "c"]
    torch.save(child_checkpoint(NasRunConfig(supernet=TINY), TINY, names, child.eval(), classes), tmp_path / "child.pt")
    model, ck = model_from_checkpoint(tmp_path / "child.pt")
    assert [s.name for s in model.choice] == names and ck["model"]["arch"] == "nas_child"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), child(x))
    card = export(ExportConfig(checkpoint=str(tmp_path / "child.pt"), repo=str(tmp_path / "repo"), name="nas-x"),
                  log=lambda m: None)
    d = tmp_path / "repo" / "nas-x"
    manifest = json_.loads((d / "model.json").read_text())
    assert manifest["outputs"][0]["shape"] == [-1, 3] and (d / "labels.txt").read_text().split() == classes
    assert card["arch"] == "nas_child" and card["model"]["nas_architecture"] == names
    # the child's own schedule, not the supernet's warm-up: NasRunConfig's child_steps and lr_warmup_steps
    assert card["training"]["steps"] == 600 and card["training"]["warmupSteps"] == 15
    assert "Recipe: seed 0, 600 steps of batch 32," in (d / "MODEL_CARD.md").read_text()
    assert card["onnx"]["ortParity"]["worst"] <= 1e-4 and len(json_.loads((d / "1" / "golden" / "index.json").read_text())["items"]) == 4
    with pytest.raises(ValueError, match="not a candidate"):
        child_from_names(TINY, ["k7_e2", "k3_e2"])
