"""``dl-utils demo``: the offline model-assisted labeling loop, and its sample-data step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_number, fail

app = typer.Typer(
    help="Run the offline model-assisted labeling loop end to end (sample video → dataset → train → "
    "ONNX → pre-annotate → evaluate → report).",
    invoke_without_command=True,
)


@app.callback()
def demo(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created; finished steps are reused).")
    ] = Path("demo_out"),
    force: Annotated[bool, typer.Option("--force", help="Redo every step even if it is up to date.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="A shortened run (4 s of video, 1 epoch) to check the setup.")
    ] = False,
    seconds: Annotated[
        float | None, typer.Option(help="Length of the sample video in seconds (default 30).")
    ] = None,
    train_seconds: Annotated[
        float | None, typer.Option(help="Training time budget in seconds (default 170).")
    ] = None,
) -> None:
    """Run the whole loop into OUT and print where the report is."""
    if ctx.invoked_subcommand is not None:
        return
    import dataclasses

    from dl_utils.demo import DemoConfig, DemoError, run_demo

    check_number("--seconds", seconds, minimum=0, exclusive_min=True)
    check_number("--train-seconds", train_seconds, minimum=0, exclusive_min=True)
    if out.exists() and not out.is_dir():
        fail(f"{out}: is a file, expected a folder to write")
    cfg = DemoConfig.quick() if quick else DemoConfig()
    if seconds is not None:
        cfg = dataclasses.replace(cfg, seconds=seconds)
    if train_seconds is not None:
        cfg = dataclasses.replace(cfg, train_seconds=train_seconds)
    try:
        result = run_demo(out, cfg, force=force, echo=typer.echo)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        typer.echo("Re-run the same command to continue from the last finished step.", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.echo("\ninterrupted: finished steps are kept; re-run the same command to continue.", err=True)
        raise typer.Exit(130) from None
    typer.echo("")
    width = max(len(w) for w in result.summary["what"])
    for row in result.summary.itertuples():
        typer.echo(f"  {row.step:<12} {row.what:<{width}}  {row.value}")
    typer.echo(
        f"\nDone in {result.seconds:.0f} s ({len(result.steps_run)} steps run, "
        f"{len(result.steps_skipped)} reused). Report: {result.report}"
    )


@app.command("sample")
def sample_cmd(
    out: Annotated[Path, typer.Argument(help="Folder for street.mp4 and ground_truth.xml.")],
    seconds: Annotated[float, typer.Option(help="Video length in seconds.")] = 30.0,
    fps: Annotated[int, typer.Option(help="Frames per second.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate only the sample video with its ground-truth CVAT tracks."""
    from dl_utils.demo.sample import make_sample

    check_number("--seconds", seconds, minimum=0, exclusive_min=True)
    check_number("--fps", fps, minimum=1)
    if out.exists() and not out.is_dir():
        fail(f"{out}: is a file, expected a folder to write")
    s = make_sample(out, seconds=seconds, fps=fps, seed=seed)
    typer.echo(f"{s.video} ({s.task.size} frames), {s.xml} ({len(s.task.track_ids)} tracks)")


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Argument(help="A demo output folder (with 06_evaluate finished).")],
) -> None:
    """Rewrite OUT/report.html from the finished steps of a demo run."""
    from dl_utils.demo.report import summary_table, write_report

    if not (out / "06_evaluate" / "step.json").is_file():
        fail(f"{out}: no finished evaluation step here; run: dl-utils demo --out {out}")
    preview = out / "07_report" / "preview.gif"
    report = write_report(
        out, out / "report.html", preview=str(preview.resolve()) if preview.is_file() else None
    )
    for row in summary_table(out).itertuples():
        typer.echo(f"  {row.step:<12} {row.what:<50}  {row.value}")
    typer.echo(f"Report: {report}")
