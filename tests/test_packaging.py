"""The wheel: built from the sources, installed into a fresh venv, it brings its models and its dashboard.

Installing the wheel's dependencies for real means installing torch: here that took 2 min 52 s and
5.7 GB (the newest torch on the index is a CUDA build, with its NVIDIA libraries). So the dependency
pins are checked twice without that: pip resolves the wheel's requirements in an empty venv
(``--dry-run``: nothing is downloaded but metadata), and the wheel is then installed *with* its
dependencies, offline (``--no-index``), into a second fresh venv whose only link to this environment is
a ``.pth`` file naming this environment's site-packages. pip sees the torch already there and must
not replace it: the promise that ``pip install toymae`` keeps a user's torch. ``--system-site-packages``
would do the same but would also leak this environment's toymae-free scripts and settings; the .pth
venv shares packages and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# What a build reads (pyproject.toml, setup.py, MANIFEST.in) and what it packs.
SOURCES = [
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "CITATION.cff",
    "app.py",
    ".streamlit",
    "app_pages",
    "toymae",
    "checkpoints",
]


def run(cmd: list[str], cwd: Path, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TOYMAE_CHECKPOINT_DIR", "PYTHONPATH")}
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (a build writes build/ and *.egg-info beside them)
    holding one extra file in checkpoints/seeds/, which must stay out of the wheel."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "seeds")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    (src / "checkpoints" / "seeds").mkdir()
    (src / "checkpoints" / "seeds" / "ratio0.6-dec1-seed1.safetensors").write_bytes(b"not shipped")
    # --no-build-isolation: build with this environment's setuptools, offline.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), "."], src)
    (found,) = tmp.glob("toymae-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed offline, its dependencies found in this environment."""
    home = tmp_path_factory.mktemp("venv")
    # No pip and no setuptools of its own: its packages are the wheel's and, through the .pth, ours.
    run([sys.executable, "-m", "venv", "--without-pip", str(home)], home)
    py = home / "bin" / "python"
    site = Path(
        run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], home).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "toymae_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-index", str(wheel)], home)
    return home


def test_the_wheel_holds_the_seed0_models_and_the_dashboard_only(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    bundle = "toymae/_bundle/"
    manifest = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())["checkpoints"]
    assert manifest and {e["seed"] for e in manifest} == {0}
    assert {bundle + "checkpoints/" + e["file"] for e in manifest} <= names
    top = {bundle + "checkpoints/" + p.name for p in (ROOT / "checkpoints").iterdir() if p.is_file()}
    assert top <= names  # every file beside the models too (manifest, results, the pages' cache)
    assert {bundle + f for f in ("app.py", ".streamlit/config.toml", "checkpoints/manifest.json")} <= names
    pages = {
        bundle + p.relative_to(ROOT).as_posix()
        for p in (ROOT / "app_pages").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert pages and pages <= names
    assert not [n for n in names if "/seeds/" in n]  # other seeds stay in the repository
    assert wheel.stat().st_size < 20e6


def test_the_wheel_requires_a_torch_range_and_keeps_the_dashboard_optional(wheel):
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in z.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    torch_req = [r for r in requires if r.startswith("torch")]
    assert torch_req == ["torch>=2.4"]
    for name in ("streamlit", "plotly", "transformers"):
        reqs = [r for r in requires if r.startswith(name)]
        assert reqs and all("extra ==" in r for r in reqs), (name, reqs)


def test_pip_resolves_the_wheel_in_an_empty_venv_without_the_dashboard(wheel, tmp_path):
    """The pins as a user's pip sees them (needs the package index: metadata only, nothing installed)."""
    run([sys.executable, "-m", "venv", str(tmp_path / "empty")], tmp_path)
    pip = [str(tmp_path / "empty" / "bin" / "python"), "-m", "pip"]
    run([*pip, "install", "--dry-run", "--quiet", "--report", "report.json", str(wheel)], tmp_path)
    chosen = {
        i["metadata"]["name"].lower(): i["metadata"]["version"]
        for i in json.loads((tmp_path / "report.json").read_text())["install"]
    }
    assert "toymae" in chosen and "torch" in chosen
    major, minor = (int(x) for x in chosen["torch"].split(".")[:2])
    assert (major, minor) >= (2, 4)
    assert not {"streamlit", "plotly", "transformers"} & set(chosen)


def test_the_installed_package_keeps_this_torch_and_finds_its_models(venv, tmp_path):
    py = str(venv / "bin" / "python")
    code = (
        "import json, torch, toymae\n"
        "from toymae.app.catalog import CHECKPOINT_DIR, load_manifest\n"
        "print(json.dumps({'toymae': toymae.__file__, 'torch': torch.__version__,"
        " 'dir': str(CHECKPOINT_DIR), 'n': len(load_manifest())}))\n"
    )
    got = json.loads(run([py, "-c", code], tmp_path).stdout)
    assert got["toymae"].startswith(str(venv))  # the wheel's copy, not a checkout
    assert got["torch"] == __import__("torch").__version__  # pip kept this environment's torch
    assert got["dir"].startswith(str(venv)) and got["dir"].endswith("_bundle/checkpoints")
    assert got["n"] == len(json.loads((ROOT / "checkpoints" / "manifest.json").read_text())["checkpoints"])


def test_toymae_info_reads_a_bundled_model(venv, tmp_path):
    bundled = next(
        (venv / "lib").glob("python3*/site-packages/toymae/_bundle/checkpoints/ratio0.6-dec1.safetensors")
    )
    info = json.loads(run([str(venv / "bin" / "toymae"), "info", str(bundled)], tmp_path).stdout)
    assert info["config"]["model"]["mask_ratio"] == 0.6 and info["config"]["model"]["decoder_depth"] == 1


def test_dashboard_help_imports_no_torch(venv, tmp_path):
    r = run([str(venv / "bin" / "toymae"), "dashboard", "--help"], tmp_path)
    assert "usage: toymae dashboard" in r.stdout
    r = run(
        [str(venv / "bin" / "python"), "-X", "importtime", "-m", "toymae", "dashboard", "--help"], tmp_path
    )
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "toymae.cli" in imported and "torch" not in imported


def test_toymae_dashboard_serves_the_bundled_app(venv, tmp_path):
    """`toymae dashboard` starts Streamlit on the wheel's app.py; its default page then runs."""
    port = 8700 + os.getpid() % 200
    cmd = [str(venv / "bin" / "toymae"), "dashboard", "--port", str(port), "--", "--server.headless", "true"]
    server = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None and health != b"ok":
            try:
                health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
            except OSError:
                time.sleep(0.5)
        assert health == b"ok", server.stdout.read() if server.poll() is not None else "no answer in 90 s"
    finally:
        server.terminate()  # `toymae dashboard` became the server (exec): this stops Streamlit itself
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    app = next((venv / "lib").glob("python3*/site-packages/toymae/_bundle/app.py"))
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(app)!r}, default_timeout=120).run()\n"
        "assert not at.exception, [e.message for e in at.exception]\n"
        "print(len(at.main.children))\n"
    )
    assert int(run([str(venv / "bin" / "python"), "-c", code], tmp_path).stdout.split()[-1]) > 0
