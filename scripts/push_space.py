"""Publish the dashboard as a Docker Hugging Face Space, uploading the app's files with the Hub client.

    python scripts/push_space.py OWNER/NAME           # after `hf auth login` (or with HF_TOKEN set)
    python scripts/push_space.py OWNER/NAME --stage DIR   # only write what would be uploaded, to DIR

Why an upload and not `git push`: the Hub refuses pushed binary files (the .safetensors models) that
are not stored with LFS or Xet, and this repository's history holds them as plain git blobs. The Hub
client stores such files with Xet by itself, and an upload sends the current files, not the history.

What it does: creates the Space if it does not exist (Docker SDK, public, free CPU hardware) with the
Variable ``XSRF_PROTECTION=false`` (docs/security.md says why and what it costs; the Dockerfile reads
it as a build argument), then uploads in one commit the files the image needs: the Dockerfile, the
app, the library, the seed-0 models, and ``docs/space-README.md`` as the Space's ``README.md`` (its
front matter, at the top, is the Space's configuration). Files of an earlier upload that are no longer
shipped are deleted, so the Space mirrors this checkout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["Dockerfile", ".dockerignore", "requirements.txt", "app.py", ".streamlit/config.toml"]
FILES += ["LICENSE", "CITATION.cff"]
SKIP = {"__pycache__", "node_modules"}


def space_files() -> dict[str, Path]:
    """Path in the Space -> file here."""
    out = {name: ROOT / name for name in FILES}
    for tree in ("app_pages", "toymae"):
        for p in sorted((ROOT / tree).rglob("*")):
            rel = p.relative_to(ROOT)
            if p.is_file() and not SKIP & set(rel.parts) and p.suffix != ".pyc":
                out[rel.as_posix()] = p
    for p in sorted((ROOT / "checkpoints").iterdir()):  # top level only: seed 0 (as the wheel; not seeds/)
        if p.is_file():
            out[f"checkpoints/{p.name}"] = p
    out["README.md"] = ROOT / "docs" / "space-README.md"
    return out


def stage(folder: Path) -> int:
    """Copy the Space's files into ``folder``; their total size in bytes."""
    total = 0
    for rel, src in space_files().items():
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        total += src.stat().st_size
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("space", metavar="OWNER/NAME")
    ap.add_argument("--stage", metavar="DIR", help="only copy the files that would be uploaded into DIR")
    args = ap.parse_args()
    if args.stage:
        folder = Path(args.stage)
        if folder.exists() and any(folder.iterdir()):
            print(f"{folder} is not empty", file=sys.stderr)
            return 2
        total = stage(folder)
        print(f"staged {len(space_files())} files, {total / 1e6:.1f} MB, in {folder}")
        return 0
    from huggingface_hub import HfApi  # pip install huggingface_hub

    api = HfApi()
    variables = [{"key": "XSRF_PROTECTION", "value": "false"}]
    url = api.create_repo(
        args.space, repo_type="space", space_sdk="docker", exist_ok=True, space_variables=variables
    )
    api.add_space_variable(args.space, "XSRF_PROTECTION", "false")  # also for a Space that existed
    with tempfile.TemporaryDirectory() as tmp:
        total = stage(Path(tmp))
        api.upload_folder(
            repo_id=args.space,
            repo_type="space",
            folder_path=tmp,
            delete_patterns="*",  # what this checkout no longer ships (.gitattributes is kept)
            commit_message="Upload the toymae dashboard",
        )
    print(f"uploaded {len(space_files())} files ({total / 1e6:.1f} MB) to {url}; it builds in a few minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
