"""The demo report: one self-contained HTML page (images embedded) and a summary table."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from dl_utils.utils import atomic_write, load_json

__all__ = ["summary_table", "write_report"]


def _result(out: Path, step: str) -> dict[str, Any]:
    marker = out / step / "step.json"
    if not marker.is_file():
        return {}
    data = load_json(marker)
    return {**data.get("result", {}), "_seconds": data.get("seconds")}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def summary_table(out: str | Path) -> pd.DataFrame:
    """One row per headline number of a demo run in ``out`` (step, what, value)."""
    out = Path(out)
    s, d, t, e, p, ev = (
        _result(out, x)
        for x in ("01_sample", "02_dataset", "03_train", "04_export", "05_preannotate", "06_evaluate")
    )
    rows = [
        (
            "sample",
            "video frames (annotated / to pre-annotate)",
            f"{s.get('frames')} ({s.get('annotated_frames')} / {s.get('to_annotate')})",
        ),
        (
            "dataset",
            "train / val images",
            f"{d.get('images', {}).get('train')} / {d.get('images', {}).get('val')}",
        ),
        ("train", "epochs in the time budget", f"{t.get('epochs')} in {float(t.get('seconds') or 0):.0f} s"),
        ("train", "val mAP50 (ultralytics)", _fmt((t.get("val") or {}).get("mAP50"))),
        ("export", "ONNX vs torch: max abs error", f"{float(e.get('tensor_max_abs_error') or 0):.1e}"),
        ("export", "ONNX vs .pt boxes: min IoU", _fmt(e.get("min_iou"))),
        ("preannotate", "tracks / keyframes written", f"{p.get('tracks')} / {p.get('keyframes')}"),
        ("evaluate", "mAP50 on the pre-annotated part", _fmt(ev.get("mAP50"))),
        ("evaluate", "MOTA / IDF1", f"{_fmt(ev.get('MOTA'))} / {_fmt(ev.get('IDF1'))}"),
        (
            "evaluate",
            "keyframes: from scratch vs. fixing pre-annotation",
            f"{ev.get('scratch_keyframes')} vs {ev.get('assisted_edits')}",
        ),
    ]
    return pd.DataFrame(rows, columns=["step", "what", "value"])


def _img(path: Path, alt: str, mime: str = "image/png") -> str:
    if not path.is_file():
        return f"<p><em>{html.escape(alt)}: not available</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:{mime};base64,{data}"/><figcaption>{html.escape(alt)}</figcaption></figure>'


def _table(rows: dict[str, Any] | pd.DataFrame) -> str:
    if isinstance(rows, pd.DataFrame):
        return rows.to_html(index=False, border=0, classes="t", float_format=lambda x: f"{x:.3f}")
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items()
    )
    return f'<table class="t">{body}</table>'


def write_report(out: str | Path, path: str | Path, preview: str | None = None) -> Path:
    """Write the HTML report of the demo run in ``out`` to ``path`` (atomically); returns ``path``."""
    out = Path(out)
    path = Path(path)
    ev = _result(out, "06_evaluate")
    ex = _result(out, "04_export")
    per_class = pd.DataFrame(
        [{"class": k, "AP50": v} for k, v in (ev.get("per_class_AP50") or {}).items()],
        columns=["class", "AP50"],
    )
    per_class_csv = out / "06_evaluate" / "per_class.csv"
    if per_class_csv.is_file():
        per_class = pd.read_csv(per_class_csv).rename(columns={"Unnamed: 0": "class"})
    preview_path = path.parent / preview if preview else None
    css = (
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "h1{margin-bottom:0}.sub{color:#666}table.t{border-collapse:collapse;margin:.5em 0}"
        ".t td,.t th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}"
        "figure{display:inline-block;margin:.5em}img{max-width:100%;border:1px solid #ccc}"
        ".big{font-size:1.4em;font-weight:600}"
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>dl_utils demo report</title><style>{css}</style></head><body>",
        "<h1>dl_utils — model-assisted labeling loop</h1>",
        "<p class='sub'>Generated sample video → annotated part → YOLO dataset → training on CPU → ONNX → "
        "pre-annotation with tracking → evaluation. Everything ran offline.</p>",
        "<h2>Summary</h2>",
        _table(summary_table(out)),
        "<h2>Pre-annotation quality</h2>",
        "<p class='big'>"
        f"mAP50 {_fmt(ev.get('mAP50'))} · MOTA {_fmt(ev.get('MOTA'))} · IDF1 {_fmt(ev.get('IDF1'))} · "
        f"ID switches {_fmt(ev.get('id_switches'))}</p>",
        f"<p>An annotator starting from scratch draws <b>{_fmt(ev.get('scratch_keyframes'))}</b> keyframes; "
        f"correcting the pre-annotation takes about <b>{_fmt(ev.get('assisted_edits'))}</b> edits: "
        f"{_fmt(ev.get('box_fixes'))} box fixes (the ground-truth keyframes inside each stretch of frames "
        f"where no prediction of the right class reaches IoU 0.7, plus one to re-anchor), "
        f"{_fmt(ev.get('track_merges'))} track merges and {_fmt(ev.get('false_tracks_to_delete'))} "
        "false tracks to delete. An estimate: it counts what a CVAT user would have to touch.</p>",
        _table(per_class),
        _img(out / "06_evaluate" / "pr.png", "precision-recall per class (IoU 0.5)"),
        "<h2>Preview</h2>",
        _img(preview_path, "pre-annotated tracks", "image/gif") if preview_path else "",
        "<h2>Training</h2>",
        _img(out / "03_train" / "curves.png", "training curves"),
        "<h2>Dataset</h2>",
        _img(out / "02_dataset" / "dataset" / "stats.png", "objects per class and split"),
        "<h2>Export check</h2>",
        _table({k: v for k, v in ex.items() if not k.startswith("_")}),
        "<h2>Files</h2><ul>",
        "<li><code>05_preannotate/preannotated.xml</code> — CVAT for video 1.1, upload as annotations</li>",
        "<li><code>05_preannotate/preannotated_backup.zip</code> — task backup, restore in CVAT</li>",
        "<li><code>04_export/model.onnx</code>, <code>03_train/best.pt</code> — the model</li>",
        "<li><code>02_dataset/dataset</code> — the YOLO dataset</li></ul>",
        "</body></html>",
    ]
    with atomic_write(path) as fh:
        fh.write("\n".join(parts))
    return path
