"""pt_utils: devices, seeding, checkpoints, summaries, the training loop and datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from dl_utils import pt_utils  # noqa: E402
from dl_utils.cv_utils import write_image  # noqa: E402
from dl_utils.pt_utils import (  # noqa: E402
    ClassificationFolder,
    EarlyStopping,
    MultiAttributeDataset,
    MultiAttributeHead,
    SegmentationFolder,
    attribute_accuracy,
    count_parameters,
    fit,
    load_checkpoint,
    model_summary,
    save_checkpoint,
    seed_everything,
    select_device,
)


def test_select_device() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device().type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu9")


def test_seeding_reproducible() -> None:
    seed_everything(7)
    a = (torch.rand(3), np.random.rand(2))
    seed_everything(7)
    b = (torch.rand(3), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_checkpoint_round_trip_and_safe_loading(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = save_checkpoint(tmp_path / "ck.pt", model, opt, epoch=3)
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    state = load_checkpoint(path, other)
    assert state["epoch"] == 3
    x = torch.randn(5, 4)
    assert torch.equal(model(x), other(x))
    # a pickle that carries arbitrary objects is refused by default
    evil = tmp_path / "evil.pt"
    torch.save({"model": model.state_dict(), "obj": EarlyStopping()}, evil)
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(evil)
    assert "obj" in load_checkpoint(evil, weights_only=False)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_count_and_summary() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))
    assert count_parameters(model) == (3 * 9 * 4 + 4) + (144 * 2 + 2)
    model[0].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 4 + 144 * 2 + 2
    table = model_summary(model, (1, 3, 8, 8))
    assert table["type"].tolist() == ["Conv2d", "Flatten", "Linear"]
    assert table["output_shape"].tolist() == [(1, 4, 6, 6), (1, 144), (1, 2)]


def test_early_stopping() -> None:
    es = EarlyStopping(patience=2, mode="max")
    assert es.improved(0.5) and not es.improved(0.4) and not es.should_stop
    assert not es.improved(0.5) and es.should_stop
    with pytest.raises(ValueError):
        EarlyStopping(mode="up")


def _blobs(n: int = 64, seed: int = 0) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return torch.utils.data.TensorDataset(x, y)


def test_fit_learns_and_writes_outputs(tmp_path: Path) -> None:
    seed_everything(0)
    model = torch.nn.Linear(2, 2)
    dl = torch.utils.data.DataLoader(_blobs(), batch_size=16, shuffle=True)
    val = torch.utils.data.DataLoader(_blobs(32, 1), batch_size=16)

    def acc(out: torch.Tensor, y: torch.Tensor) -> float:
        return float((out.argmax(1) == y).float().mean())

    res = fit(
        model,
        dl,
        val,
        loss_fn=torch.nn.functional.cross_entropy,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=8,
        metrics={"acc": acc},
        monitor="val_acc",
        mode="max",
        out_dir=tmp_path,
        progress=False,
    )
    h = res.history
    assert list(h.columns[:5]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert h["val_acc"].max() >= 0.9
    assert res.best_value == h["val_acc"].max()
    for name in ("best.pt", "last.pt", "history.csv", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert pd.read_csv(tmp_path / "history.csv").shape[0] == len(h)
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == res.best_epoch


def test_fit_early_stops_and_validates() -> None:
    model = torch.nn.Linear(2, 2)
    dl = torch.utils.data.DataLoader(_blobs(), batch_size=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing improves
    res = fit(
        model,
        dl,
        loss_fn=torch.nn.functional.cross_entropy,
        optimizer=opt,
        epochs=20,
        patience=2,
        progress=False,
    )
    assert res.stopped_early and len(res.history) == 3
    with pytest.raises(ValueError, match="monitor"):
        fit(model, dl, loss_fn=torch.nn.functional.cross_entropy, epochs=1, monitor="val_f1", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, dl, loss_fn=torch.nn.functional.cross_entropy, epochs=0)


def test_classification_and_segmentation_folders(tmp_path: Path) -> None:
    for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / "cls" / cls).mkdir(parents=True)
        for i in range(2):
            write_image(tmp_path / "cls" / cls / f"{i}.png", np.full((8, 8, 3), color, np.uint8))
    ds = ClassificationFolder(tmp_path / "cls")
    assert ds.classes == ["cat", "dog"] and len(ds) == 4
    x, y = ds[0]
    assert tuple(x.shape) == (3, 8, 8) and y == 0 and float(x[0].mean()) == 1.0  # red stays red (RGB)
    with pytest.raises(ValueError, match="missing"):
        ClassificationFolder(tmp_path / "cls", classes=["cat", "bird"])

    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    write_image(tmp_path / "img" / "a.jpg", np.zeros((6, 5, 3), np.uint8))
    mask = np.zeros((6, 5), np.uint8)
    mask[2:4, 1:3] = 3
    mask[0, 0] = 255
    write_image(tmp_path / "msk" / "a.png", mask)
    seg = SegmentationFolder(tmp_path / "img", tmp_path / "msk")
    img, m = seg[0]
    assert tuple(img.shape) == (3, 6, 5) and m.dtype == torch.int64
    assert m.numpy().tolist() == mask.astype(int).tolist()
    write_image(tmp_path / "img" / "b.jpg", np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="no mask"):
        SegmentationFolder(tmp_path / "img", tmp_path / "msk")


def test_multi_attribute_training(tmp_path: Path) -> None:
    seed_everything(0)
    rows = []
    for i in range(24):
        red = i % 2 == 0
        big = i % 3 == 0
        img = np.zeros((8, 8, 3), np.uint8)
        img[..., 0 if red else 2] = 255
        if big:
            img[..., 1] = 255
        write_image(tmp_path / f"{i}.png", img)
        rows.append({"path": f"{i}.png", "color": "red" if red else "blue", "size": "big" if big else None})
    table = pd.DataFrame(rows)
    ds = MultiAttributeDataset(table, ["color", "size"], root=tmp_path)
    assert ds.attributes == {"color": ["blue", "red"], "size": ["big"]}
    x, t = ds[1]
    assert t == {"color": 0, "size": -100}

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
            self.head = MultiAttributeHead(3, {"color": 2, "size": 1})

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return self.head(self.body(x))

    dl = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)
    net = Net()
    res = fit(
        net,
        dl,
        loss_fn=pt_utils.multi_attribute_loss,
        epochs=30,
        optimizer=torch.optim.Adam(net.parameters(), lr=0.05),
        metrics={"color_acc": lambda o, t: attribute_accuracy(o, t)["color"]},
        monitor="train_color_acc",
        mode="max",
        progress=False,
    )
    assert res.history["train_color_acc"].max() == 1.0
    out = {"a": torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])}
    acc = attribute_accuracy(out, {"a": torch.tensor([0, 0, -100])})
    assert acc == {"a": 0.5, "mean": 0.5}
    with pytest.raises(ValueError, match="no column"):
        MultiAttributeDataset(table, ["weight"])


def test_fit_reports_to_a_running_clearml_task(tmp_path: Path) -> None:
    """With a ClearML task running (offline mode: no server), every epoch value reaches ClearML."""
    pytest.importorskip("clearml")
    import json
    import os
    import subprocess
    import sys

    script = """
import json, sys, torch
from clearml import Task
from dl_utils.pt_utils import fit, seed_everything
Task.set_offline(True)
task = Task.init(project_name="dl_utils_tests", task_name="fit", auto_connect_frameworks=False,
                 auto_resource_monitoring=False, auto_connect_arg_parser=False)
seed_everything(0)
x = torch.randn(32, 2); y = (x[:, 0] > 0).long()
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
res = fit(torch.nn.Linear(2, 2), dl, dl, loss_fn=torch.nn.functional.cross_entropy, epochs=3, progress=False)
folder = task.get_offline_mode_folder()
task.close()
json.dump({"folder": str(folder), "history": res.history.to_dict("list")}, open(sys.argv[1], "w"))
"""
    out = tmp_path / "out.json"
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1", "CLEARML_CACHE_DIR": str(tmp_path / "clearml")}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=tmp_path, timeout=300)
    result = json.loads(out.read_text())
    events = []
    for line in (Path(result["folder"]) / "metrics.jsonl").read_text().splitlines():
        events += json.loads(line)
    reported = {
        (e["metric"], e["variant"], e["iter"]): e["value"]
        for e in events
        if e["type"] == "training_stats_scalar"
    }
    history = result["history"]
    for epoch, train_loss, val_loss in zip(
        history["epoch"], history["train_loss"], history["val_loss"], strict=True
    ):
        assert reported[("loss", "train", epoch)] == pytest.approx(train_loss)
        assert reported[("loss", "val", epoch)] == pytest.approx(val_loss)
