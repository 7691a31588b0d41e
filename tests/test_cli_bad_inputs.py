"""Issue 14.11: every ``dl-utils`` command, given bad inputs, prints one line ``error: ...`` naming the
input, exits non-zero (1: a wrong input or output, 2: a wrong command line) and shows no traceback.

The walk is a table: each row is a command line with placeholders and what its error must say.
Commands added later append rows to ``CASES``; ``test_every_command_is_walked`` lists commands that
have no row (or are excused in ``NOT_WALKED`` with a reason).

Placeholders: ``{missing}`` a path that does not exist, ``{dir}`` an existing folder, ``{txt}`` a
text file (the wrong type for most inputs), ``{existing}`` an existing output file, ``{blocked}``
a path below a file (cannot be created: the "unwritable output" case that holds even for root),
``{xml}`` a valid CVAT XML with its images, ``{video}`` a small video, ``{userdir}`` a user's folder with a photo, ``{onnx}``/``{pt}`` files
with those suffixes that hold no model, ``{C}``/``{S}`` the class/superclass templates, ``{out}``
a fresh output path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from _cli import error_line, invoke
from _yolo_data import image_task, write_video

from dl_utils import cvat

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    args: str  # the command line after ``dl-utils``, with placeholders
    code: int  # expected exit code: 1 input/output, 2 command line
    says: str  # text the error line must contain (after formatting the placeholders)
    last_line: bool = False  # log lines may come before the error line


CASES: dict[str, Case] = {
    # classes
    "classes check: missing table": Case(
        "classes check {missing}.xlsx {S}", 1, "{missing}.xlsx: does not exist"
    ),
    "classes check: folder for a table": Case("classes check {dir} {S}", 1, "{dir}: is a folder"),
    "classes check: wrong file type": Case("classes check {txt} {S}", 1, "{txt}: required column(s)"),
    "classes check: missing --labels-from": Case(
        "classes check {C} {S} -l {missing}.xml", 1, "{missing}.xml"
    ),
    "classes map: existing --out": Case("classes map {C} {S} --out {existing}", 1, "{existing}: exists"),
    "classes map: unwritable --out": Case(
        "classes map {C} {S} --out {blocked}", 1, "{blocked}: cannot be written"
    ),
    # copybal
    "copybal balance: missing folder": Case("copybal balance {missing}", 1, "{missing}: does not exist"),
    "copybal balance: file for a folder": Case("copybal balance {txt}", 1, "{txt}: is a file"),
    "copybal balance: negative --max-repeat": Case(
        "copybal balance {dir} --max-repeat -1", 2, "--max-repeat"
    ),
    "copybal balance: negative --power": Case("copybal balance {dir} --power -1", 2, "--power"),
    "copybal distribute: missing input": Case("copybal distribute {missing}.xml", 1, "{missing}.xml"),
    "copybal distribute: negative --projects": Case(
        "copybal distribute {xml} --projects -3", 2, "--projects"
    ),
    "copybal distribute: existing --out": Case("copybal distribute {xml} --out {existing}", 1, "{existing}"),
    # autoannotate (models are checked before anything loads)
    "autoannotate sam: missing model": Case(
        "autoannotate sam {missing}.pth {video} {out}.xml", 1, "{missing}.pth"
    ),
    "autoannotate sam: missing media": Case(
        "autoannotate sam {pt} {missing}.mp4 {out}.xml", 1, "{missing}.mp4"
    ),
    "autoannotate dino: missing model": Case(
        "autoannotate dino {missing}.pth {video} {out}.xml --classes car", 1, "{missing}.pth"
    ),
    "autoannotate sam2: missing model": Case(
        "autoannotate sam2 {missing}.pt {video} {out}.xml", 1, "{missing}.pt"
    ),
    # cvat (offline)
    "cvat info: missing": Case("cvat info {missing}.xml", 1, "{missing}.xml: does not exist"),
    "cvat info: wrong file type": Case("cvat info {txt}", 1, "{txt}"),
    "cvat validate: missing": Case("cvat validate {missing}.xml", 1, "{missing}.xml: does not exist"),
    "cvat convert: missing": Case("cvat convert {missing}.xml {out}.xml", 1, "{missing}.xml: does not exist"),
    "cvat convert: existing output": Case("cvat convert {xml} {existing}", 1, "{existing}: exists"),
    "cvat convert: negative --precision": Case(
        "cvat convert {xml} {out}.xml --precision -1", 2, "--precision"
    ),
    "cvat convert: unwritable output": Case(
        "cvat convert {xml} {blocked}", 1, "{blocked}: cannot be written"
    ),
    # cvat server commands: files are checked before any connection
    "cvat push: missing file": Case("cvat push {missing}.xml", 1, "{missing}.xml"),
    "cvat restore: missing backup": Case("cvat restore {missing}.zip", 1, "{missing}.zip"),
    "cvat create: missing media": Case("cvat create t {missing}.mp4", 1, "{missing}.mp4"),
    # demo
    "demo: negative --seconds": Case("demo --out {out} --seconds -1", 2, "--seconds"),
    "demo: OUT is a file": Case("demo --out {existing}", 1, "{existing}: is a file"),
    "demo report: not a demo folder": Case("demo report {dir}", 1, "{dir}"),
    "demo sample: OUT is a file": Case("demo sample {existing}", 1, "{existing}: is a file"),
    "demo sample: --fps 0": Case("demo sample {out} --fps 0", 2, "--fps"),
    # eval
    "eval: missing predictions": Case("eval {missing}.csv {xml}", 1, "{missing}.csv: does not exist"),
    "eval: --iou out of range": Case("eval {xml} {xml} --iou 2", 2, "--iou"),
    "eval: existing --out": Case("eval {xml} {xml} --out {existing}", 1, "{existing}: exists"),
    "eval: unwritable --out": Case("eval {xml} {xml} --out {blocked}", 1, "{blocked}: cannot be written"),
    "eval-tracks: missing": Case("eval-tracks {missing}.xml {xml}", 1, "{missing}.xml: does not exist"),
    "eval-tracks: negative --iou": Case("eval-tracks {xml} {xml} --iou -1", 2, "--iou"),
    # onnx
    "onnx export: missing": Case("onnx export {missing}.pt", 1, "{missing}.pt: does not exist"),
    "onnx export: wrong file type": Case("onnx export {txt}", 1, "{txt}: expected a .pt file"),
    "onnx export: negative --imgsz": Case("onnx export {pt} --imgsz -3", 2, "--imgsz must be >= 32, got -3"),
    "onnx export: existing output": Case("onnx export {pt} --out {existing}", 1, "{existing}: exists"),
    "onnx fp16: missing": Case("onnx fp16 {missing}.onnx", 1, "{missing}.onnx: does not exist"),
    "onnx fp16: not a model": Case("onnx fp16 {onnx}", 1, "{onnx}", last_line=True),
    "onnx info: missing": Case("onnx info {missing}.onnx", 1, "{missing}.onnx: does not exist"),
    "onnx info: wrong file type": Case("onnx info {txt}", 1, "{txt}: expected a .onnx file"),
    "onnx info: not a model": Case("onnx info {onnx}", 1, "{onnx}"),
    "onnx quantize: --max-images 0": Case("onnx quantize {onnx} --max-images 0", 2, "--max-images"),
    "onnx quantize: calibration folder missing": Case(
        "onnx quantize {onnx} --calib {missing}", 1, "{missing}"
    ),
    "onnx simplify: folder": Case("onnx simplify {dir}", 1, "{dir}: is a folder"),
    "onnx trt: missing": Case("onnx trt {missing}.onnx {out}.engine", 1, "{missing}.onnx: does not exist"),
    "onnx trt: --min-batch 0": Case("onnx trt {onnx} {out}.engine --min-batch 0", 2, "--min-batch"),
    "onnx verify: missing": Case("onnx verify {missing}.onnx --pt {pt}", 1, "{missing}.onnx: does not exist"),
    "onnx verify: --n-random 0": Case("onnx verify {onnx} --pt {pt} --n-random 0", 2, "--n-random"),
    # preannotate
    "preannotate: missing model": Case("preannotate {missing}.onnx {video} {out}.xml", 1, "{missing}.onnx"),
    "preannotate: wrong model type": Case("preannotate {txt} {video} {out}.xml", 1, "{txt}: expected a"),
    "preannotate: missing media": Case("preannotate {onnx} {missing}.mp4 {out}.xml", 1, "{missing}.mp4"),
    "preannotate: existing output": Case(
        "preannotate {onnx} {video} {existing}.xml", 1, "{existing}.xml: exists"
    ),
    "preannotate: output type": Case("preannotate {onnx} {video} {out}.txt", 2, "{out}.txt"),
    "preannotate: --conf 2": Case("preannotate {onnx} {video} {out}.xml --conf 2", 2, "--conf"),
    "preannotate: --batch 0": Case("preannotate {onnx} {video} {out}.xml --batch 0", 2, "--batch"),
    # seg
    "seg build: missing input": Case("seg build {missing}.xml {out}", 1, "{missing}.xml: does not exist"),
    "seg build: existing output": Case("seg build {xml} {dir}", 1, "{dir}: exists"),
    "seg build: OUT is a file": Case("seg build {xml} {existing}", 1, "{existing}: is a file"),
    "seg build: a folder that is not a dataset": Case(
        "seg build {xml} {userdir} --force", 1, "{userdir} is not a"
    ),
    "seg build: negative --ignore-index": Case(
        "seg build {xml} {out} --ignore-index -1", 2, "--ignore-index"
    ),
    # utils
    "utils extract: missing": Case("utils extract {missing}.zip {out}", 1, "{missing}.zip: does not exist"),
    "utils extract: wrong file type": Case("utils extract {txt} {out}", 1, "{txt}: expected a"),
    "utils hash: missing": Case("utils hash {missing}", 1, "{missing}: does not exist"),
    "utils ls: missing": Case("utils ls {missing}", 1, "{missing}: does not exist"),
    "utils ls: a file": Case("utils ls {txt}", 1, "{txt}: is a file"),
    # video
    "video extract: missing": Case("video extract {missing}.mp4 {out}", 1, "{missing}.mp4: does not exist"),
    "video extract: --step 0": Case("video extract {video} {out} --step 0", 2, "--step"),
    "video extract: --quality 200": Case("video extract {video} {out} --quality 200", 2, "--quality"),
    "video extract: not a video": Case("video extract {txt} {out}", 1, "{txt}"),
    "video extract: OUTDIR is a file": Case("video extract {video} {existing}", 1, "{existing}: is a file"),
    "video info: missing": Case("video info {missing}.mp4", 1, "{missing}.mp4: does not exist"),
    "video info: folder": Case("video info {dir}", 1, "{dir}: is a folder"),
    "video info: not a video": Case("video info {txt}", 1, "{txt}"),
    "video preview: missing": Case(
        "video preview {missing}.mp4 {out}.mp4", 1, "{missing}.mp4: does not exist"
    ),
    "video preview: existing output": Case(
        "video preview {video} {existing}.mp4", 1, "{existing}.mp4: exists"
    ),
    "video preview: output type": Case("video preview {video} {out}.txt", 2, "{out}.txt"),
    "video preview: --max-frames 0": Case(
        "video preview {video} {out}.mp4 --max-frames 0", 2, "--max-frames"
    ),
    "video sheet: missing": Case("video sheet {missing}.mp4 {out}.jpg", 1, "{missing}.mp4: does not exist"),
    "video sheet: --n 0": Case("video sheet {video} {out}.jpg --n 0", 2, "--n"),
    "video sheet: existing output": Case("video sheet {video} {existing}", 1, "{existing}: exists"),
    "video split: missing": Case(
        "video split {missing}.mp4 {out} --duration 1", 1, "{missing}.mp4: does not exist"
    ),
    "video split: negative --duration": Case("video split {video} {out} --duration -1", 2, "--duration"),
    "video split: bad --size": Case("video split {video} {out} --size abc", 2, "--size"),
    "video split: OUTDIR is a file": Case(
        "video split {video} {existing} --duration 1", 1, "{existing}: is a file"
    ),
    # yolo
    "yolo build: missing input": Case("yolo build {missing}.xml {out}", 1, "{missing}.xml: does not exist"),
    "yolo build: wrong file type": Case("yolo build {txt} {out}", 1, "{txt}"),
    "yolo build: OUT is a file": Case("yolo build {xml} {existing}", 1, "{existing}: is a file"),
    "yolo build: --every 0": Case("yolo build {xml} {out} --every 0", 2, "--every"),
    "yolo build: a folder that is not a dataset": Case(
        "yolo build {xml} {userdir} --force", 1, "{userdir} is not a dataset"
    ),
    "yolo from-coco: missing": Case(
        "yolo from-coco {missing}.json {out}.xml", 1, "{missing}.json: does not exist"
    ),
    "yolo from-coco: wrong file type": Case("yolo from-coco {txt} {out}.xml", 1, "{txt}: expected a .json"),
    "yolo from-coco: existing output": Case("yolo from-coco {coco} {existing}", 1, "{existing}: exists"),
    "yolo from-coco: unwritable output": Case(
        "yolo from-coco {coco} {blocked}", 1, "{blocked}: cannot be written"
    ),
    "yolo import: missing": Case("yolo import {missing} {out}.xml", 1, "{missing}: does not exist"),
    "yolo import: file for a dataset": Case("yolo import {txt} {out}.xml", 1, "{txt}: is a file"),
    "yolo import: output type": Case("yolo import {dir} {out}.txt", 2, "{out}.txt"),
    "yolo to-coco: missing": Case(
        "yolo to-coco {missing}.xml {out}.json", 1, "{missing}.xml: does not exist"
    ),
    "yolo to-coco: existing output": Case("yolo to-coco {xml} {existing}", 1, "{existing}: exists"),
    "yolo train: missing data.yaml": Case(
        "yolo train {missing}.yaml {out}", 1, "{missing}.yaml: does not exist"
    ),
    "yolo train: negative --epochs": Case("yolo train {dir} {out} --epochs -1", 2, "--epochs"),
    "yolo train: OUT is a file": Case("yolo train {txt} {existing}", 1, "{existing}: is a file"),
}

# commands without a row here, each with the reason
NOT_WALKED: dict[str, str] = {
    "cvat ls": "takes no path or number (only server options); needs a server",
    "cvat pull": "task ids only; needs a server (tests/test_cvat_srv_cli.py)",
    "cvat backup": "task ids only; needs a server",
    "cvat export": "task ids only; needs a server",
    "cvat copy": "task ids only; needs a server",
}


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("walk")
    t, _ = image_task(root / "export", "t", n=2)
    xml = cvat.save(t, root / "export" / "annotations.xml")
    coco = root / "coco.json"
    from dl_utils.yolo import to_coco

    to_coco(t, coco)
    write_video(root / "clip.mp4", 8)
    (root / "folder").mkdir()
    (root / "photos").mkdir()
    (root / "photos" / "holiday.jpg").write_bytes(b"mine")
    (root / "notes.txt").write_text("not what you think\n")
    (root / "existing").write_text("keep me\n")
    (root / "existing.xml").write_text("keep me\n")
    (root / "existing.mp4").write_text("keep me\n")
    (root / "junk.onnx").write_bytes(b"not a model")
    (root / "junk.pt").write_bytes(b"not a model")
    return {
        "missing": str(root / "nope"),
        "dir": str(root / "folder"),
        "userdir": str(root / "photos"),
        "txt": str(root / "notes.txt"),
        "existing": str(root / "existing"),
        "blocked": str(root / "notes.txt" / "out.xml"),
        "xml": str(xml),
        "coco": str(coco),
        "video": str(root / "clip.mp4"),
        "onnx": str(root / "junk.onnx"),
        "pt": str(root / "junk.pt"),
        "C": str(ROOT / "classes_template.xlsx"),
        "S": str(ROOT / "superclasses_template.xlsx"),
        "out": str(root / "fresh" / "out"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, places: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CVAT_URL", "CVAT_USER", "CVAT_PASSWORD", "CVAT_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    case = CASES[name]
    kept = (places["existing"], places["txt"], places["userdir"] + "/holiday.jpg")
    before = {p: Path(p).read_bytes() for p in kept}
    res = invoke(case.args.format(**places).split())
    assert res.exit_code == case.code, f"{name}: exit {res.exit_code}\n{res.output}"
    line = error_line(res, last=case.last_line)
    assert case.says.format(**places) in line, f"{name}: {line}"
    assert {p: Path(p).read_bytes() for p in before} == before  # nothing overwritten
    assert not Path(places["out"]).exists() or not any(Path(places["out"]).iterdir())
    assert not any(Path(places["dir"]).iterdir())


def _commands() -> list[str]:
    import typer

    from dl_utils.cli import app

    out: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
            if getattr(cmd, "invoke_without_command", False) and path:
                out.append(" ".join(path))
        else:
            out.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return sorted(out)


def test_every_command_is_walked() -> None:
    walked = {" ".join(w for w in c.args.split() if not w.startswith(("{", "-"))) for c in CASES.values()}
    missing = [
        c
        for c in _commands()
        if c not in NOT_WALKED and not any(w == c or w.startswith(c + " ") for w in walked)
    ]
    assert not missing, f"add bad-input rows to tests/test_cli_bad_inputs.py CASES for: {missing}"


def test_messages_name_cli_options_and_the_users_path() -> None:
    """Issue 14.12: Python argument names and our temporary files never reach the user."""
    from dl_utils.cli._common import cli_message

    opts = {"force": "--force", "fmt": "--format", "allow_missing": "--allow-missing"}
    assert cli_message("out exists (pass overwrite=True / --force)", opts) == "out exists (pass --force)"
    assert (
        cli_message("refusing to overwrite x (pass overwrite=True)", opts)
        == "refusing to overwrite x (pass --force)"
    )
    assert (
        cli_message("cannot tell; pass format= one of [a]", opts) == "cannot tell; pass --format one of [a]"
    )
    assert "--allow-missing" in cli_message("pass allow_missing=True (--allow-missing)", opts)
    assert (
        cli_message("it holds 2 videos: pass them as a list", opts) == "it holds 2 videos: pass one of them"
    )
    tmp = "[Errno 13] Permission denied: '/data/out/.ds.tmp-4242-0a1b2c3d/labels'"
    assert cli_message(tmp, opts) == "[Errno 13] Permission denied: '/data/out/ds/labels'"
    assert cli_message("/data/.report.json.tmp-1-deadbeef: permission denied", opts) == (
        "/data/report.json: permission denied"
    )


def test_unexpected_errors_are_one_line_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dl_utils.yolo

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("something odd")

    monkeypatch.setattr(dl_utils.yolo, "build_dataset", boom)
    t, _ = image_task(tmp_path / "export", "t", n=1)
    cvat.save(t, tmp_path / "export" / "annotations.xml")
    res = invoke(["yolo", "build", tmp_path / "export", tmp_path / "ds"])
    assert res.exit_code == 1
    assert error_line(res) == "error: something odd (RuntimeError; run with dl-utils -v for details)"
    res = invoke(["-v", "yolo", "build", tmp_path / "export", tmp_path / "ds"])  # -v: the real exception
    assert isinstance(res.exception, RuntimeError)
