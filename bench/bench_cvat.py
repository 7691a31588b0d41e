"""Benchmark: CVAT for video 1.1 XML -> YOLO labels, dl_utils vs datumaro (issue 3, "Speed").

Generates a CVAT for video 1.1 XML (default 10,000 frames x 20 tracks = 200k shapes, a third of
the tracks 8-point polygons, 1920x1080, a keyframe every 10 frames, every frame written as CVAT
does), then times, each side in its own process so that peak memory is its own:

* dl_utils, end to end as a user calls it: ``dl_utils.cvat.load`` then
  ``dl_utils.yolo.write_yolo_labels`` (label text straight from the keyframes, column-wise, one
  file per frame); peak RSS is taken there. Then, outside the end-to-end time: the label text
  alone (``task_label_text``), the per-row path (``Task.to_shapes()`` + ``to_yolo_lines``, checked
  to give the same text), the XML write (``dl_utils.cvat.save``) and interpolation throughput
  (``dl_utils.cvat.tracks.interpolate_tracks``);
* datumaro (``pip install datumaro`` into ``bench/.venv-bench``, never into the project venv):
  ``Dataset.import_from(xml, "cvat")``, each frame's image size set from ``<original_size>``,
  ``export(..., "yolo")``. Skipped with a message when that venv is missing. Note that
  datumaro's YOLO export writes rectangles only (polygons are dropped), dl_utils writes the box
  of every shape, so dl_utils does more work here.

Files go to tmpfs (``/dev/shm``) by default: creating 10,000 label files on a shared virtual
disk costs seconds of kernel time that vary run to run and would drown both libraries.

Prints seconds, shapes/s, peak RSS (and its growth over the process after imports) and the
end-to-end ratio. Usage::

    .venv/bin/python bench/bench_cvat.py            # full size
    .venv/bin/python bench/bench_cvat.py --quick    # 1,000 frames x 6 tracks
    .venv/bin/python bench/bench_cvat.py --frames 2000 --tracks 10 --no-datumaro
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_VENV = HERE / ".venv-bench"
DEFAULT_OUT = Path("/dev/shm/dl_utils_bench_cvat") if Path("/dev/shm").is_dir() else HERE / "out"
WIDTH, HEIGHT = 1920, 1080


# ---------------------------------------------------------------------------------------------
# data generation
# ---------------------------------------------------------------------------------------------


def _fmt(a: np.ndarray) -> np.ndarray:
    return np.char.mod("%.2f", a)


def generate_xml(path: Path, frames: int, tracks: int, keyframe_every: int = 10, seed: int = 0) -> int:
    """Write a CVAT for video 1.1 XML; return the number of shapes in it."""
    rng = np.random.default_rng(seed)
    kf = np.arange(0, frames, keyframe_every)
    if kf[-1] != frames - 1:
        kf = np.r_[kf, frames - 1]
    f = np.arange(frames)
    seg = np.clip(np.searchsorted(kf, f, side="right") - 1, 0, len(kf) - 2)
    t = (f - kf[seg]) / (kf[seg + 1] - kf[seg])
    is_key = np.isin(f, kf)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
        "    <task>",
        "      <id>1</id>",
        "      <name>bench</name>",
        f"      <size>{frames}</size>",
        "      <mode>interpolation</mode>",
        "      <overlap>0</overlap>",
        "      <start_frame>0</start_frame>",
        f"      <stop_frame>{frames - 1}</stop_frame>",
        "      <frame_filter></frame_filter>",
        "      <labels>",
    ]
    for name, typ in (("car", "rectangle"), ("person", "rectangle"), ("road", "polygon")):
        out += [
            "        <label>",
            f"          <name>{name}</name>",
            f"          <type>{typ}</type>",
            "          <attributes>",
            "            <attribute>",
            "              <name>moving</name>",
            "              <mutable>True</mutable>",
            "              <input_type>checkbox</input_type>",
            "              <default_value>false</default_value>",
            "              <values>false</values>",
            "            </attribute>",
            "          </attributes>",
            "        </label>",
        ]
    out += [
        "      </labels>",
        "      <segments>",
        "        <segment>",
        "          <id>1</id>",
        "          <start>0</start>",
        f"          <stop>{frames - 1}</stop>",
        "          <url>http://localhost:8080/api/jobs/1</url>",
        "        </segment>",
        "      </segments>",
        "      <original_size>",
        f"        <width>{WIDTH}</width>",
        f"        <height>{HEIGHT}</height>",
        "      </original_size>",
        "    </task>",
        "    <source>bench.mp4</source>",
        "  </meta>",
    ]
    n_shapes = 0
    key_s = np.where(is_key, "1", "0")
    for tid in range(tracks):
        polygon = tid % 3 == 0
        label = "road" if polygon else ("car" if tid % 3 == 1 else "person")
        out.append(f'  <track id="{tid}" label="{label}" source="manual">')
        cx = rng.uniform(150, WIDTH - 150, len(kf))
        cy = rng.uniform(150, HEIGHT - 150, len(kf))
        size = rng.uniform(30, 120, len(kf))
        x = cx[seg] + (cx[seg + 1] - cx[seg]) * t
        y = cy[seg] + (cy[seg + 1] - cy[seg]) * t
        s = size[seg] + (size[seg + 1] - size[seg]) * t
        moving = np.where(rng.random(len(kf))[seg] < 0.5, "true", "false")
        if polygon:
            ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
            px = _fmt(x[:, None] + s[:, None] * np.cos(ang))
            py = _fmt(y[:, None] + s[:, None] * np.sin(ang))
            pts = [
                ";".join(f"{a},{b}" for a, b in zip(rx, ry, strict=True))
                for rx, ry in zip(px, py, strict=True)
            ]
            for i in range(frames):
                out.append(
                    f'    <polygon frame="{i}" keyframe="{key_s[i]}" outside="0" occluded="0" '
                    f'points="{pts[i]}" z_order="0">\n'
                    f'      <attribute name="moving">{moving[i]}</attribute>\n    </polygon>'
                )
        else:
            x1, y1, x2, y2 = _fmt(x - s), _fmt(y - s / 2), _fmt(x + s), _fmt(y + s / 2)
            for i in range(frames):
                out.append(
                    f'    <box frame="{i}" keyframe="{key_s[i]}" outside="0" occluded="0" xtl="{x1[i]}" '
                    f'ytl="{y1[i]}" xbr="{x2[i]}" ybr="{y2[i]}" z_order="0">\n'
                    f'      <attribute name="moving">{moving[i]}</attribute>\n    </box>'
                )
        # the object leaves the picture on the last frame: an outside keyframe (not exported)
        n_shapes += frames
        out.append("  </track>")
    out.append("</annotations>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return n_shapes


# ---------------------------------------------------------------------------------------------
# workers (each runs in its own process)
# ---------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(xml: Path, out: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    import dl_utils.cvat as cvat
    from dl_utils.cvat.tracks import interpolate_tracks
    from dl_utils.yolo import task_label_text, to_yolo_lines, write_yolo_labels

    base = _rss_mb()
    res: dict = {}
    # --- end to end, as a user calls it: load, then one label file per frame (the columnar path)
    c0 = time.process_time()
    t0 = time.perf_counter()
    task = cvat.load(xml)
    if not isinstance(task, cvat.Task):
        raise TypeError(f"{xml}: expected a task export")
    res["parse_s"] = time.perf_counter() - t0
    res["parse_cpu_s"] = time.process_time() - c0
    t, c = time.perf_counter(), time.process_time()
    class_ids = {n: i for i, n in enumerate(sorted(lb.name for lb in task.labels))}
    labels = write_yolo_labels(task, out / "ours_yolo" / "labels", class_ids, overwrite=True)
    res["labels_s"] = time.perf_counter() - t
    res["labels_cpu_s"] = time.process_time() - c
    res["end_to_end_s"] = time.perf_counter() - t0
    res["end_to_end_cpu_s"] = time.process_time() - c0
    res["peak_rss_mb"] = _peak_mb()
    res["rss_growth_mb"] = _peak_mb() - base
    res["label_lines"] = int(labels.data.count(b"\n"))
    res["label_files"] = len(labels)
    res["keyframes"] = int(len(task.annotations))
    res["fast_rows"] = labels.fast_rows
    del labels
    # --- not part of the pipeline above (peak RSS already taken)
    # the label text alone (the rest of "labels" is writing the files)
    t, c = time.perf_counter(), time.process_time()
    text = task_label_text(task, class_ids)
    res["label_text_s"] = time.perf_counter() - t
    res["label_text_cpu_s"] = time.process_time() - c
    # the per-row path: to_shapes() + to_yolo_lines() (same text, checked)
    t, c = time.perf_counter(), time.process_time()
    shapes = task.to_shapes()
    res["to_shapes_s"] = time.perf_counter() - t
    res["to_shapes_cpu_s"] = time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    shapes = shapes[~shapes["outside"].to_numpy()]
    sizes = task.frames.set_index("frame")
    W = sizes["width"].reindex(shapes["frame"]).to_numpy(dtype=float)
    H = sizes["height"].reindex(shapes["frame"]).to_numpy(dtype=float)
    lines = to_yolo_lines(shapes, W, H, class_ids, "detect", decimals=6)
    lines = lines[lines["status"].isin(["ok", "clipped"])]
    res["yolo_lines_s"] = time.perf_counter() - t
    res["yolo_lines_cpu_s"] = time.process_time() - c
    res["shapes"] = int(len(shapes))
    per_row = "".join(ln + "\n" for ln in lines.sort_values("frame", kind="stable")["line"].tolist()).encode()
    res["same_text"] = per_row == text.data
    del shapes, lines, per_row, text
    # writing the XML back and raw interpolation throughput
    t, c = time.perf_counter(), time.process_time()
    cvat.save(task, out / "ours_roundtrip.xml", format="cvat-video", overwrite=True)
    res["xml_write_s"] = time.perf_counter() - t
    res["xml_write_cpu_s"] = time.process_time() - c
    mutable = task.mutable_attributes()
    best_wall, best_cpu, n = 1e9, 1e9, 0
    for _ in range(3):
        expanded = None
        tw, tc = time.perf_counter(), time.process_time()
        expanded = interpolate_tracks(task.annotations, last_frame=task.size - 1, mutable_attributes=mutable)
        best_wall = min(best_wall, time.perf_counter() - tw)
        best_cpu = min(best_cpu, time.process_time() - tc)
        n = len(expanded)
    res["interpolate_s"] = best_wall
    res["interpolate_cpu_s"] = best_cpu
    res["interpolated_shapes"] = n
    return res


def worker_datumaro(xml: Path, out: Path) -> dict:
    import datumaro as dm
    from datumaro.components.media import Image

    base = _rss_mb()
    res: dict = {"datumaro_version": getattr(dm, "__version__", "?")}
    c0 = time.process_time()
    t0 = time.perf_counter()
    ds = dm.Dataset.import_from(str(xml), "cvat")
    n_items = len(ds)
    res["parse_s"] = time.perf_counter() - t0
    res["parse_cpu_s"] = time.process_time() - c0
    t, c = time.perf_counter(), time.process_time()

    class SetSize(dm.ItemTransform):
        def transform_item(self, item):
            return item.wrap(media=Image.from_file(path=f"{item.id}.jpg", size=(HEIGHT, WIDTH)))

    ds = ds.transform(SetSize)
    res["set_size_s"] = time.perf_counter() - t
    res["set_size_cpu_s"] = time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    ds.export(str(out / "datumaro_yolo"), "yolo", save_media=False)
    res["export_s"] = time.perf_counter() - t
    res["export_cpu_s"] = time.process_time() - c
    res["end_to_end_s"] = time.perf_counter() - t0
    res["end_to_end_cpu_s"] = time.process_time() - c0
    res["peak_rss_mb"] = _peak_mb()
    res["rss_growth_mb"] = _peak_mb() - base
    res["items"] = n_items
    lines = 0
    for p in (out / "datumaro_yolo").rglob("*.txt"):
        if p.parent != out / "datumaro_yolo":  # label files live in obj_<subset>_data/
            lines += sum(1 for ln in p.read_text().splitlines() if ln.strip())
    res["label_lines"] = lines
    return res


def _run_worker(python: str, kind: str, xml: Path, out: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) if kind == "ours" else ""
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", kind, str(xml), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--tracks", type=int, default=20)
    ap.add_argument("--keyframe-every", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="1,000 frames x 6 tracks")
    ap.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="work folder (default: tmpfs, so that creating 10,000 label files does not measure the disk)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-datumaro", action="store_true")
    ap.add_argument("--datumaro-python", default=str(BENCH_VENV / "bin" / "python"))
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "XML", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, xml, out = args.worker
        fn = worker_ours if kind == "ours" else worker_datumaro
        print(json.dumps(fn(Path(xml), Path(out))))
        return 0
    if args.quick:
        args.frames, args.tracks = 1_000, 6
    try:
        return _bench(args)
    finally:
        if not args.keep and args.out.exists():
            shutil.rmtree(args.out, ignore_errors=True)


def _bench(args: argparse.Namespace) -> int:
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    xml = out / "annotations.xml"
    t = time.perf_counter()
    n = generate_xml(xml, args.frames, args.tracks, args.keyframe_every)
    print(
        f"generated {xml} ({xml.stat().st_size / 1e6:.1f} MB): {args.frames} frames x {args.tracks} tracks "
        f"= {n:,} shapes, {time.perf_counter() - t:.1f} s"
    )
    ours = _run_worker(sys.executable, "ours", xml, out)
    print("\ndl_utils (end to end: cvat.load + yolo.write_yolo_labels)")
    print(f"  {'stage':<26} {'wall':>8}   {'CPU':>8}   {'k shapes/s (CPU)':>16}")
    for k, name in (
        ("parse", "parse (cvat.load)"),
        ("labels", "labels (write_yolo_labels)"),
        ("end_to_end", "end to end"),
        ("label_text", "  of which task_label_text"),
        ("to_shapes", "per-row: to_shapes"),
        ("yolo_lines", "per-row: to_yolo_lines"),
        ("xml_write", "XML write (cvat.save)"),
    ):
        w, c = ours[f"{k}_s"], ours[f"{k}_cpu_s"]
        print(f"  {name:<26} {w:8.3f}s  {c:8.3f}s   {ours['shapes'] / max(c, 1e-9) / 1e3:16.1f}")
    print(
        f"  interpolation    {ours['interpolate_s']:8.3f} s   "
        f"{ours['interpolated_shapes'] / ours['interpolate_s'] / 1e6:10.2f} M shapes/s "
        f"(CPU time {ours['interpolate_cpu_s']:.3f} s = "
        f"{ours['interpolated_shapes'] / ours['interpolate_cpu_s'] / 1e6:.2f} M shapes/s; target >= 1M)"
    )
    print(
        f"  peak RSS {ours['peak_rss_mb']:.0f} MB (+{ours['rss_growth_mb']:.0f} MB after imports); "
        f"{ours['keyframes']:,} keyframes -> {ours['shapes']:,} shapes, {ours['label_lines']:,} label lines "
        f"in {ours['label_files']:,} files ({ours['fast_rows']:,} rows column-wise); "
        f"same text as the per-row path: {ours['same_text']}"
    )
    dm_python = Path(args.datumaro_python)
    if args.no_datumaro:
        print("\ndatumaro: skipped (--no-datumaro)")
        return 0
    if not dm_python.exists():
        print(
            f"\ndatumaro: skipped, {dm_python} not found; create it with\n"
            f"  python -m venv {BENCH_VENV} && {BENCH_VENV}/bin/pip install datumaro"
        )
        return 0
    try:
        theirs = _run_worker(str(dm_python), "datumaro", xml, out)
    except RuntimeError as exc:
        print(f"\ndatumaro: failed, skipped\n{exc}")
        return 0
    print(f"\ndatumaro {theirs['datumaro_version']}")
    print(f"  {'stage':<16} {'wall':>8}   {'CPU':>8}")
    for k in ("parse", "set_size", "export", "end_to_end"):
        print(f"  {k:<16} {theirs[f'{k}_s']:8.3f}s  {theirs[f'{k}_cpu_s']:8.3f}s")
    print(
        f"  peak RSS {theirs['peak_rss_mb']:.0f} MB (+{theirs['rss_growth_mb']:.0f} MB after imports); "
        f"{theirs['items']:,} items, {theirs['label_lines']:,} label lines"
        + (" (its YOLO export drops polygons)" if theirs["label_lines"] < ours["label_lines"] else "")
    )
    ratio = theirs["end_to_end_s"] / ours["end_to_end_s"]
    ratio_cpu = theirs["end_to_end_cpu_s"] / ours["end_to_end_cpu_s"]
    print(
        f"\nXML -> YOLO end to end: dl_utils {ours['end_to_end_s']:.2f} s vs datumaro "
        f"{theirs['end_to_end_s']:.2f} s wall -> {ratio:.1f}x faster; CPU time {ours['end_to_end_cpu_s']:.2f} s "
        f"vs {theirs['end_to_end_cpu_s']:.2f} s -> {ratio_cpu:.1f}x (target >= 10x)\n"
        f"peak RSS {ours['peak_rss_mb']:.0f} MB vs {theirs['peak_rss_mb']:.0f} MB "
        f"(growth {ours['rss_growth_mb']:.0f} MB vs {theirs['rss_growth_mb']:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
