"""``dl-utils cvat ls | pull | push | backup | restore | create | export | copy``: a CVAT server.

These commands join the offline ``dl-utils cvat`` group (``cvat_cmd.py`` registers them). The
server comes from ``--url`` or ``$CVAT_URL``; credentials from ``$CVAT_USER``/``$CVAT_PASSWORD``
or ``$CVAT_ACCESS_TOKEN`` (``--user``/``--password``/``--token`` exist, but a password on the
command line ends up in the shell history). Tasks are named by id, name or the URL copied from
the browser. Many-task commands run in parallel with a progress bar, retry on network errors,
print a summary naming every failed task with its error, exit 1 when one failed, and skip what
a previous run finished.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dl_utils.cli._common import CliError, check_input, fail, usage

app = typer.Typer(help="CVAT server commands.", no_args_is_help=True)

_TASK_FILE = re.compile(r"^task_(\d+)(?:_[^.]*)?\.(json|xml|zip)$")

# -- shared options ---------------------------------------------------------------------------

Url = Annotated[
    str | None, typer.Option("--url", help="Server URL (default: $CVAT_URL).", rich_help_panel="Server")
]
User = Annotated[
    str | None, typer.Option("--user", help="User name (default: $CVAT_USER).", rich_help_panel="Server")
]
Password = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="Password (default: $CVAT_PASSWORD; prefer the variable).",
        rich_help_panel="Server",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Access token (default: $CVAT_ACCESS_TOKEN).",
        rich_help_panel="Server",
        show_default=False,
    ),
]
Org = Annotated[
    str | None,
    typer.Option("--org", help="Organization slug (default: $CVAT_ORG).", rich_help_panel="Server"),
]
Insecure = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify the server's TLS certificate.", rich_help_panel="Server"),
]
Workers = Annotated[int, typer.Option("--workers", "-j", help="Tasks processed in parallel.", min=1, max=64)]
Retries = Annotated[int, typer.Option("--retries", help="HTTP retries per request (0: none).", min=0, max=50)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@contextlib.contextmanager
def _server_errors() -> Iterator[None]:
    """CvatServerError → one line ``error: ...`` and exit 1 (the messages already name host and object)."""
    from dl_utils.cvat_srv.errors import CvatServerError

    try:
        yield
    except CvatServerError as exc:
        raise CliError(" ".join(str(exc).split())) from exc


def _connect(
    url: str | None,
    user: str | None,
    password: str | None,
    token: str | None,
    org: str | None,
    insecure: bool,
    retries: int = 8,
) -> Any:
    from dl_utils.cvat_srv.client import connect
    from dl_utils.cvat_srv.retry import RetryPolicy, install_retries

    policy = RetryPolicy(total=retries)
    with _server_errors():
        srv = connect(
            url, user=user, password=password, token=token, org=org, verify=not insecure, retry=policy
        )
    install_retries(srv.sdk, policy)
    return srv


def _options(workers: int, quiet: bool, retries: int, skip_existing: bool = True) -> Any:
    from dl_utils.cvat_srv.batch import BatchOptions
    from dl_utils.cvat_srv.retry import RetryPolicy

    return BatchOptions(
        workers=workers, progress=not quiet, skip_existing=skip_existing, retry=RetryPolicy(total=retries)
    )


def _tasks_arg(srv: Any, tasks: list[str] | None, project: str | None) -> list[Any]:
    """The tasks named on the command line, or every task of ``--project``."""
    if tasks and project:
        usage("give TASK arguments or --project, not both")
    if project:
        with _server_errors():
            found = srv.tasks(project=project)
        if not found:
            fail(f"{srv.url}: project {project!r} has no tasks")
        return [t.id for t in found]
    if not tasks:
        usage("give at least one TASK (id, name or URL), or --project")
    return [_ref(t) for t in tasks]


def _ref(text: str) -> Any:
    """A command-line task reference: digits → int, else the text (name or URL)."""
    return int(text) if text.strip().isdigit() else text


def _finish(report: Any) -> None:
    typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


# -- ls ---------------------------------------------------------------------------------------


class LsKind(str, Enum):
    projects = "projects"
    tasks = "tasks"
    jobs = "jobs"


@app.command("ls")
def ls_cmd(
    what: Annotated[LsKind, typer.Argument(help="projects, tasks or jobs.")] = LsKind.tasks,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only in this project.")] = None,
    task: Annotated[str | None, typer.Option("--task", "-t", help="jobs: only of this task.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="annotation, validation, completed...")
    ] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="Assigned to this user name.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name contains this text.")] = None,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """List projects, tasks or jobs with their id, name, status, size and URL.

    Examples:

      dl-utils cvat ls projects

      dl-utils cvat ls tasks --project street --status annotation

      dl-utils cvat ls jobs --task https://cvat.example.com/tasks/12 --assignee alice
    """
    srv = _connect(url, user, password, token, org, insecure)
    with srv, _server_errors():
        if project is not None:
            srv.project(_ref(project))  # a missing project is an error, not an empty list
        if what is LsKind.projects:
            if task:
                usage("--task applies to jobs only")
            rows = [
                (p.id, p.name, p.status, "", p.url)
                for p in srv.projects(name=name, **_filters(status=status, assignee=assignee))
            ]
        elif what is LsKind.tasks:
            if task:
                usage("--task applies to jobs only")
            rows = [
                (t.id, t.name, t.status, f"{t.size} frames", t.url)
                for t in srv.tasks(project=project, status=status, assignee=assignee, name=name)
            ]
        else:
            task_obj = srv.task(_ref(task)) if task else None  # a missing task is an error, not "0 jobs"
            rows = [
                (j.id, j.name, j.state or j.status, f"frames {j.start_frame}-{j.stop_frame}", j.url)
                for j in srv.jobs(task=task_obj, project=project, status=status, assignee=assignee)
            ]
    _table(rows, ("id", "name", "status", "size", "url"))
    typer.echo(f"{len(rows)} {what.value}")


def _filters(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> None:
    if not rows:
        return
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# -- pull -------------------------------------------------------------------------------------


class PullFormat(str, Enum):
    api_json = "api-json"
    cvat_video = "cvat-video"
    cvat_images = "cvat-images"


@app.command("pull")
def pull_cmd(
    tasks: Annotated[
        list[str] | None, typer.Argument(help="Tasks: ids, names or URLs.", show_default=False)
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (task_<id>.<ext> per task).")
    ] = Path("pulled"),
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Every task of this project.")
    ] = None,
    fmt: Annotated[
        PullFormat, typer.Option("--format", "-f", help="api-json (lossless), cvat-video or cvat-images XML.")
    ] = PullFormat.api_json,
    force: Annotated[bool, typer.Option("--force", help="Pull again even if the output exists.")] = False,
    lossy: Annotated[
        bool, typer.Option("--lossy", help="Write what the format can hold (e.g. no tags in cvat-video).")
    ] = False,
    workers: Workers = 8,
    retries: Retries = 8,
    quiet: Quiet = False,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Pull annotations of tasks through the annotations API (no export job), in parallel.

    Each task is written atomically to OUT/task_<id>.json (or .xml); a re-run skips the tasks
    already pulled unless --force.

    Examples:

      dl-utils cvat pull 12 13 https://cvat.example.com/tasks/14 --out pulled/

      dl-utils cvat pull --project street --format cvat-video --out xml/ -j 16
    """
    from dl_utils.cvat_srv.batch import pull_tasks

    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv:
        items = _tasks_arg(srv, tasks, project)
        report = pull_tasks(
            srv,
            items,
            out,
            format=fmt.value,
            options=_options(workers, quiet, retries, not force),
            lossy=lossy,
        )
    _finish(report)


# -- push -------------------------------------------------------------------------------------


class PushMode(str, Enum):
    REPLACE = "replace"
    APPEND = "append"
    PATCH = "patch"


@app.command("push")
def push_cmd(
    files: Annotated[list[Path], typer.Argument(help="Annotation files (API JSON, CVAT XML, backup zip).")],
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Target task (one FILE); default: from the file name.")
    ] = None,
    mode: Annotated[
        PushMode, typer.Option("--mode", help="replace, append, or patch (only the labels in the file).")
    ] = PushMode.REPLACE,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite even if the server changed since the pull.")
    ] = False,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Folder recording finished pushes; re-runs skip them.")
    ] = None,
    workers: Workers = 8,
    retries: Retries = 8,
    quiet: Quiet = False,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Push annotation files to their tasks, in parallel (labels matched by name, read back).

    The target of FILE is --task, else the id in its name (task_<id>.json, as `pull` writes),
    else the task it was pulled from. Each push first saves the server's annotations for undo,
    refuses when the server changed since the pull (unless --force) and writes nothing when a
    label or attribute is unknown.

    Examples:

      dl-utils cvat push pulled/*.json --journal .push-journal

      dl-utils cvat push fixed.xml --task https://cvat.example.com/tasks/12 --mode patch
    """
    from dl_utils.cvat_srv.batch import push_tasks

    for f in files:
        check_input(f, "file")
    if task and len(files) != 1:
        usage("--task needs exactly one FILE")
    pairs: list[tuple[Any, Any]] = []
    for f in files:
        m = _TASK_FILE.match(f.name)
        target = _ref(task) if task else (int(m.group(1)) if m else None)
        pairs.append((target, f))
    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv:
        report = push_tasks(
            srv,
            pairs,
            mode=mode.value,
            force=force,
            journal=journal,
            options=_options(workers, quiet, retries),
        )
    _finish(report)


# -- backup / restore -------------------------------------------------------------------------


@app.command("backup")
def backup_cmd(
    tasks: Annotated[
        list[str] | None, typer.Argument(help="Tasks: ids, names or URLs.", show_default=False)
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (task_<id>_backup.zip).")] = Path(
        "backups"
    ),
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Every task of this project.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the backup exists.")] = False,
    workers: Workers = 4,
    retries: Retries = 8,
    quiet: Quiet = False,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Download task backups (annotations and media), in parallel; a re-run skips finished ones.

    Examples:

      dl-utils cvat backup 12 13 --out backups/

      dl-utils cvat backup --project street --out backups/street -j 8
    """
    from dl_utils.cvat_srv.batch import backup_tasks

    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv:
        items = _tasks_arg(srv, tasks, project)
        report = backup_tasks(srv, items, out, options=_options(workers, quiet, retries, not force))
    _finish(report)


@app.command("restore")
def restore_cmd(
    backups: Annotated[list[Path], typer.Argument(help="Task backup zips (CVAT's or written by dl_utils).")],
    project: Annotated[str | None, typer.Option("--project", "-p", help="Restore into this project.")] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Folder recording finished restores; re-runs skip them.")
    ] = None,
    workers: Workers = 4,
    retries: Retries = 8,
    quiet: Quiet = False,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Restore task backups as new tasks, in parallel; prints the new task ids.

    Examples:

      dl-utils cvat restore backups/*.zip --journal .restore-journal

      dl-utils cvat restore task_12_backup.zip --project street
    """
    from dl_utils.cvat_srv.batch import restore_tasks

    for b in backups:
        check_input(b, "file", (".zip",))
    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv:
        report = restore_tasks(
            srv,
            backups,
            project=_ref(project) if project else None,
            journal=journal,
            options=_options(workers, quiet, retries),
        )
    for item in report.items:
        if item.status != "failed":
            typer.echo(f"{item.item} -> {item.output}")
    _finish(report)


# -- create -----------------------------------------------------------------------------------


@app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="Name of the new task (or project with --project-only).")],
    media: Annotated[
        list[Path] | None,
        typer.Argument(help="A video, a folder of images, or image files.", show_default=False),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Create the task in this project.")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels", help="Labels: a class table (.xlsx/.csv), a JSON label list, or an annotation file."
        ),
    ] = None,
    annotations: Annotated[
        Path | None,
        typer.Option("--annotations", "-a", help="Annotations to attach (CVAT XML, API JSON, backup)."),
    ] = None,
    project_only: Annotated[
        bool, typer.Option("--project-only", help="Create a project NAME with --labels (no task).")
    ] = False,
    segment_size: Annotated[int | None, typer.Option("--segment-size", min=1, help="Frames per job.")] = None,
    overlap: Annotated[int | None, typer.Option("--overlap", min=0, help="Frames shared by jobs.")] = None,
    start_frame: Annotated[
        int | None, typer.Option("--start-frame", min=0, help="Video: first frame.")
    ] = None,
    stop_frame: Annotated[int | None, typer.Option("--stop-frame", min=0, help="Video: last frame.")] = None,
    frame_step: Annotated[
        int | None, typer.Option("--frame-step", min=1, help="Video: every N-th frame.")
    ] = None,
    quality: Annotated[int, typer.Option("--quality", min=1, max=100, help="Image quality of chunks.")] = 70,
    subset: Annotated[str, typer.Option("--subset", help="Train, Test, Validation...")] = "",
    retries: Retries = 8,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Create a task from local media (with labels or in a project, optionally with annotations).

    Examples:

      dl-utils cvat create street-01 street.mp4 --project street --segment-size 300 --frame-step 2

      dl-utils cvat create shelf frames/ --labels classes.xlsx --annotations pre.xml

      dl-utils cvat create street --project-only --labels classes.xlsx
    """
    from dl_utils import cvat
    from dl_utils.cvat_srv.create import TaskOptions

    label_spec = _read_labels(labels) if labels is not None else None
    ann = _load_task(annotations) if annotations is not None else None
    if project_only:
        if media:
            usage("--project-only takes no MEDIA")
        if label_spec is None:
            usage("--project-only needs --labels")
        srv = _connect(url, user, password, token, org, insecure, retries)
        with srv, _server_errors():
            proj = srv.create_project(name, label_spec)
        typer.echo(f"created project {proj.id}: {proj.url}")
        return
    if not media:
        usage("give MEDIA: a video, a folder of images, or image files")
    for m in media:
        check_input(m, "any")
    if project and label_spec is not None:
        usage("--project and --labels do not go together (tasks in a project use its labels)")
    opts = TaskOptions(
        segment_size=segment_size,
        overlap=overlap,
        start_frame=start_frame,
        stop_frame=stop_frame,
        frame_step=frame_step,
        image_quality=quality,
        subset=subset,
    )
    src: Any = media[0] if len(media) == 1 else list(media)
    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv, _server_errors():
        st = srv.create_task(
            name,
            src,
            project=_ref(project) if project else None,
            labels=label_spec,
            options=opts,
            annotations=ann if isinstance(ann, cvat.Task) else None,
            progress=True,
        )
    n = len(ann.annotations) if isinstance(ann, cvat.Task) else 0
    typer.echo(f"created task {st.id} ({st.size} frames{f', {n} annotation rows' if n else ''}): {st.url}")


def _load_task(path: Path) -> Any:
    from dl_utils import cvat

    check_input(path, "file")
    obj = cvat.load(path)
    if not isinstance(obj, cvat.Task):
        fail(f"{path}: holds a project, expected one task")
    return obj


def _read_labels(path: Path) -> Any:
    """Labels from a class table, a JSON list of label dicts/names, or an annotation file's labels."""
    import json

    check_input(path, "file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls", ".csv", ".tsv"):
        return path
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return data
        if isinstance(data, dict) and isinstance(data.get("labels"), list) and "annotations" not in data:
            return data["labels"]
    return _load_task(path).labels


# -- export -----------------------------------------------------------------------------------


@app.command("export")
def export_cmd(
    tasks: Annotated[
        list[str] | None, typer.Argument(help="Tasks: ids, names or URLs.", show_default=False)
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help='Server format name, e.g. "COCO 1.0", "YOLO 1.1".')
    ] = "CVAT for video 1.1",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (task_<id>_<format>.zip).")] = Path(
        "exports"
    ),
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Every task of this project.")
    ] = None,
    list_formats: Annotated[
        bool, typer.Option("--list-formats", help="List the server's formats and exit.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Export again even if the output exists.")] = False,
    workers: Workers = 4,
    retries: Retries = 8,
    quiet: Quiet = False,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Export tasks in any dataset format the server offers (its export jobs), in parallel.

    Examples:

      dl-utils cvat export 12 13 --format "COCO 1.0" --out coco/

      dl-utils cvat export --list-formats
    """
    from dl_utils.cvat_srv.batch import export_tasks

    srv = _connect(url, user, password, token, org, insecure, retries)
    with srv:
        if list_formats:
            with _server_errors():
                formats = srv.formats()
            for f in _format_rows(formats):
                typer.echo(f)
            return
        items = _tasks_arg(srv, tasks, project)
        report = export_tasks(srv, items, out, fmt, options=_options(workers, quiet, retries, not force))
    _finish(report)


def _format_rows(formats: Any) -> list[str]:
    """Lines ``name  [export] [import]`` for whatever ``srv.formats()`` returns."""
    rows = []
    if hasattr(formats, "to_string"):  # a DataFrame: name, ext, export, import...
        return formats.to_string(index=False).splitlines()
    if isinstance(formats, dict):
        for name, info in formats.items():
            rows.append(f"{name}  {info}")
        return rows
    for f in formats:
        name = getattr(f, "name", None) or (f.get("name") if isinstance(f, dict) else str(f))
        ways = [w for w in ("export", "import") if getattr(f, w, None) or (isinstance(f, dict) and f.get(w))]
        rows.append(f"{name}  {' '.join(ways)}".rstrip())
    return rows


# -- copy -------------------------------------------------------------------------------------


@app.command("copy")
def copy_cmd(
    tasks: Annotated[list[str], typer.Argument(help="Tasks to copy: ids, names or URLs.")],
    to_project: Annotated[str, typer.Option("--to", help="Target project (id, name or URL).")],
    move: Annotated[
        bool, typer.Option("--move", help="Move instead of copy (the source task goes away).")
    ] = False,
    retries: Retries = 8,
    url: Url = None,
    user: User = None,
    password: Password = None,
    token: Token = None,
    org: Org = None,
    insecure: Insecure = False,
) -> None:
    """Copy (or move) tasks into another project; labels are matched by name.

    A label missing in the target project is reported before anything is written.

    Examples:

      dl-utils cvat copy 12 13 --to "street v2"

      dl-utils cvat copy https://cvat.example.com/tasks/12 --to 7 --move
    """
    from dl_utils.cvat_srv.batch import BatchReport, ItemResult

    srv = _connect(url, user, password, token, org, insecure, retries)
    report = BatchReport("move" if move else "copy")
    import time

    t0 = time.perf_counter()
    with srv:
        for t in tasks:
            try:
                with _server_errors():
                    fn = srv.move_task if move else srv.copy_task
                    res = fn(_ref(t), _ref(to_project))
            except (CliError, ValueError, LookupError, OSError) as exc:
                report.items.append(ItemResult(f"task {t}", "failed", error=" ".join(str(exc).split())))
                continue
            new_id = getattr(res, "id", res)
            report.items.append(ItemResult(f"task {t}", "done", output=f"task {new_id}"))
            typer.echo(f"task {t} -> task {new_id}")
    report.seconds = time.perf_counter() - t0
    _finish(report)


# -- pre-annotation on the server (called by ``dl-utils preannotate MODEL --task ...``) -----------


def parse_label_map(text: str | None) -> dict[str, str | None]:
    """``"box=car,ellipse="`` → ``{"box": "car", "ellipse": None}`` (empty target: drop the label).

    Example:
        >>> parse_label_map("box=car, ellipse=")
        {'box': 'car', 'ellipse': None}
    """
    out: dict[str, str | None] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            usage(f"--label-map: expected MODEL_LABEL=TASK_LABEL pairs, got {part.strip()!r}")
        k, v = (s.strip() for s in part.split("=", 1))
        out[k] = v or None
    return out


def sort_tracks(max_age: int, min_hits: int, iou_threshold: float) -> Any:
    """A :data:`~dl_utils.cvat_srv.preannotate.TrackFn` linking detections with the SORT tracker."""

    def link(table: Any, last_frame: int) -> Any:
        from dl_utils.tracking import SortTracker, detections_to_tracks

        trk = SortTracker(max_age=max_age, min_hits=min_hits, iou_threshold=iou_threshold)
        return detections_to_tracks(table, trk, frames=range(last_frame + 1), last_frame=last_frame)

    return link


def preannotate_on_server(
    annotator: Any,
    task: str,
    *,
    media: Path | None = None,
    tracks: Any = False,
    mode: str = "append",
    label_map: str | None = None,
    workers: int = 4,
    url: str | None = None,
    insecure: bool = False,
    retries: int = 8,
) -> None:
    """Run ``annotator`` on a server task and push the result; prints one summary line.

    Credentials come from ``$CVAT_USER``/``$CVAT_PASSWORD`` or ``$CVAT_ACCESS_TOKEN``.
    """
    from dl_utils.cvat_srv.preannotate import PreannotateOptions, preannotate_task

    if mode not in ("append", "replace", "patch"):
        usage(f"--mode must be append, replace or patch, got {mode!r}")
    opts = PreannotateOptions(
        media=media, tracks=tracks, mode=mode, label_map=parse_label_map(label_map), workers=workers
    )
    srv = _connect(url, None, None, None, None, insecure, retries)
    with srv, _server_errors():
        result = preannotate_task(srv, _ref(task), annotator, opts)
    typer.echo(f"{result} -> {srv.ui_url('task', result.task_id)}")
