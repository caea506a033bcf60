"""The one build step pyproject.toml cannot declare: the dashboard and the shipped models in the wheel.

The dashboard (``app.py``, ``app_pages/`` with its components' HTML, JS and CSS,
``.streamlit/config.toml``) and the models (``checkpoints/``) live at the repository's top level:
Streamlit Community Cloud and a Docker Space run ``app.py`` from there, and ``toymae/`` stays a
library that knows nothing of Streamlit (the layer test reads every ``.py`` under ``toymae/``). A
wheel installs packages only, so this build copies that tree, layout unchanged, into
``toymae/_bundle/``; ``toymae.shipped`` finds it there or in a checkout. A declarative
``package-dir`` mapping could carry ``app_pages/`` and ``checkpoints/`` but not ``app.py`` without
mapping the repository root (and every top-level ``.py`` with it).

Which models: every file directly in ``checkpoints/`` (the seed-0 models, the manifest, the results
and what the pages read, such as ``page_cache.npz``). Subfolders such as ``checkpoints/seeds/`` (the
other seeds, for the record) stay out of the wheel, which keeps it near 10 MB; the dashboard offers a
seed only when its file is there, and a source checkout or TOYMAE_CHECKPOINT_DIR reaches them.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLE = Path("toymae", "_bundle")
SKIP = {"__pycache__", "node_modules"}  # generated folders, never part of the app


def bundled_files() -> list[Path]:
    """Paths relative to the repository root, copied to the same paths under toymae/_bundle/."""
    files = [Path("app.py"), Path(".streamlit", "config.toml")]
    files += sorted(
        p.relative_to(ROOT)
        for p in (ROOT / "app_pages").rglob("*")
        if p.is_file() and not SKIP & set(p.relative_to(ROOT).parts) and p.suffix != ".pyc"
    )
    files += sorted(p.relative_to(ROOT) for p in (ROOT / "checkpoints").iterdir() if p.is_file())
    return files


class BuildWithBundle(build_py):
    def run(self) -> None:
        super().run()
        for rel in bundled_files():
            target = Path(self.build_lib) / BUNDLE / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(ROOT / rel), str(target))


setup(cmdclass={"build_py": BuildWithBundle})
