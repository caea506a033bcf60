"""Command line: ``python -m toymae COMMAND ...`` (``--help`` lists the commands, in ``COMMANDS`` order).

Each command is a section of this file: its flags, then its body. The flags are built from
``toymae.config`` alone, so every ``--help`` answers without importing torch; a body imports the
library when it runs. Every training-config field is a flag, generated from the dataclasses so the CLI
never drifts from the library. User mistakes (bad flags, bad values, bad files) print one line and exit
with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from dataclasses import MISSING, fields, replace
from pathlib import Path

from toymae import __version__
from toymae.config import DATASETS, PROTOCOLS, RECIPES, SHAPE_NAMES, MAEConfig, ShapeWorldConfig, TrainConfig

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # recorded by `reproduce`
    try:
        return args.func(args)
    except UsageError as e:
        print(f"toymae {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:
        from toymae.app.images import PictureTooLargeError  # here, not at the top: --help stays torch-free
        from toymae.finite import NonFiniteOutputError

        if not isinstance(e, (NonFiniteOutputError, PictureTooLargeError)):
            raise
        print(f"toymae {args.command}: error: {e}", file=sys.stderr)  # a broken model, one line
        return EXIT_USAGE
    except OSError as e:
        from toymae.files import WriteError

        if not isinstance(e, WriteError):
            raise
        print(f"toymae {args.command}: error: {e}", file=sys.stderr)  # a full disk, no permission
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="toymae", description="A toy masked autoencoder on ShapeWorld.")
    parser.add_argument("--version", action="version", version=f"toymae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:  # no "(default: None)"
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def _command(sub, func) -> argparse.ArgumentParser:
    """The sub-command that runs ``cmd_<name>``; its docstring's first line is the help."""
    name, help = func.__name__.removeprefix("cmd_"), func.__doc__.splitlines()[0]
    p = sub.add_parser(name, help=help, description=help, formatter_class=_Help)
    p.set_defaults(func=func)
    return p


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


MAX_SCALE = 32  # a 32 px image becomes 1,024 px wide; the picture's total size is bounded in images.py


def _scale(text: str) -> int:
    v = _positive_int(text)
    if v > MAX_SCALE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SCALE}, got {v}")
    return v


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def _add_allow_large(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-large", action="store_true", help="run a model over the compute budget")


def _load(path: str, device: str | None, run: bool = True, allow_large: bool = False):
    """Load a checkpoint (within the command line's compute budget unless ``allow_large``); with
    ``run``, also refuse a model whose outputs are NaN or infinite."""
    from toymae.checkpoint import CheckpointError, load_checkpoint
    from toymae.config import CLI_BUDGET
    from toymae.finite import NonFiniteOutputError, check_model_outputs

    try:
        ckpt = load_checkpoint(path, device, budget=None if allow_large else CLI_BUDGET)
    except (CheckpointError, ValueError) as e:
        raise UsageError(str(e)) from None
    if run:
        try:
            check_model_outputs(ckpt.model, ckpt.train_config.data)
        except NonFiniteOutputError as e:
            raise UsageError(f"{path}: {e}") from None
    return ckpt


# ------------------------------------------------------------------ train
def add_train(sub) -> None:
    p = _command(sub, cmd_train)
    p.add_argument("--out", default="runs/model.safetensors", help="checkpoint path")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a run saved with its training state")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    # The recipe, then the dataset, then each flag given, each changing what came before it.
    p.add_argument("--recipe", choices=list(RECIPES), default="default", help="see toymae/config.py")
    p.add_argument(
        "--data", dest="dataset", choices=list(DATASETS), help="a named dataset (default: default)"
    )
    p.add_argument("--image-size", type=int, help="image side in pixels (default recipe: 32)")
    for group, cls in (("model", MAEConfig), ("data", ShapeWorldConfig), ("training", TrainConfig)):
        _add_config_flags(p.add_argument_group(group), cls)


def _add_config_flags(group: argparse._ArgumentGroup, cls: type) -> None:
    """One flag per field (``--embed-dim``), ``None`` when not given: the recipe's value stays."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in ("image_size", "model", "data"):
            continue
        tp = hints[f.name]
        if isinstance(tp, types.UnionType):  # ``int | None`` -> int
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        kwargs: dict = {"type": tp}
        if tp is bool:
            kwargs = {"action": argparse.BooleanOptionalAction}
        elif typing.get_origin(tp) is tuple:
            kwargs = {"type": float, "nargs": 2, "metavar": ("LO", "HI")}
        flag, default = "--" + f.name.replace("_", "-"), f.default if f.default is not MISSING else None
        group.add_argument(flag, dest=f.name, default=None, help=f"(default recipe: {default})", **kwargs)


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe ``args`` names, on the dataset it names, with the flags the user gave on top."""
    from toymae.config import dataset, with_changes

    base = RECIPES[args.recipe]
    if args.dataset is not None:
        base = replace(base, data=dataset(args.dataset, base.data.image_size))
    names = {f.name for cls in (MAEConfig, ShapeWorldConfig, TrainConfig) for f in fields(cls)}
    try:
        return with_changes(base, **{k: v for k, v in vars(args).items() if k in names and v is not None})
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_train(args: argparse.Namespace) -> int:
    """Pretrain an MAE and write a checkpoint."""
    from toymae.checkpoint import CheckpointError, WriteError, require_writable
    from toymae.train import Trainer

    if args.resume:
        try:
            trainer = Trainer.resume(args.resume, args.device, args.steps)
        except (CheckpointError, ValueError) as e:
            raise UsageError(str(e)) from None
    else:
        trainer = Trainer(train_config_from_args(args), args.device)
    try:
        out = require_writable(args.out)  # before minutes of training, not after
    except WriteError as e:
        raise UsageError(str(e)) from None
    steps = trainer.config.steps
    where = f"{trainer.device} [{trainer.precision}]"
    print(f"training {steps} steps (from step {trainer.step}) on {where} -> {out}", file=sys.stderr)
    try:
        summary = trainer.run(progress=not args.quiet, checkpoint_path=out)
    except KeyboardInterrupt as e:  # TrainingInterrupted after the state was written (SIGINT or SIGTERM)
        print(f"\ninterrupted at step {trainer.step}; saved to {out} (resume with --resume)", file=sys.stderr)
        return 128 + getattr(e, "signum", 2)
    keys = ("steps", "final_loss", "held_out_loss", "probe_acc", "pca2_acc", "precision")
    print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


# ------------------------------------------------------------------ probe
PROBE_LABELS = ("16", "64", "256", "all", "pca2")


def add_probe(sub) -> None:
    p = _command(sub, cmd_probe)
    p.add_argument("checkpoint")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the probe's train/test sets")
    p.add_argument("--n", type=_positive_int, default=2000, help="images per split (train and test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    # The readable view's rows (--json reports them all); pca2: the first two principal components.
    p.add_argument("--protocol", choices=(*PROTOCOLS, "all"), default="all", help="feature protocol")
    p.add_argument("--labels", choices=(*PROBE_LABELS, "every"), default="every", help="labelled images")
    _add_device(p)
    _add_allow_large(p)


def cmd_probe(args: argparse.Namespace) -> int:
    """Linear probes on a checkpoint's encoder features."""
    from toymae.data import eval_set
    from toymae.eval.study import representation_study
    from toymae.eval.text import probe_lines
    from toymae.probe import probe_model

    ckpt = _load(args.checkpoint, args.device, allow_large=args.allow_large)
    data_cfg, seed = ckpt.train_config.data, ckpt.train_config.seed
    train = eval_set(args.n, data_cfg, args.data_seed, "probe-train")
    test = eval_set(args.n, data_cfg, args.data_seed, "probe-test")
    report = probe_model(ckpt.model, train, test).to_dict()
    protocols = PROTOCOLS if args.json or args.protocol == "all" else (args.protocol,)
    report.update(representation_study(ckpt.model, train, test, seed, protocols))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"checkpoint       {args.checkpoint}")
    labels = PROBE_LABELS if args.labels == "every" else (args.labels,)
    print("\n".join(probe_lines(report, protocols, labels, seed)))
    return 0


# ------------------------------------------------------------------ reconstruct
def add_reconstruct(sub) -> None:
    p = _command(sub, cmd_reconstruct)
    p.add_argument("checkpoint")
    p.add_argument("--mask-ratio", type=float, default=None, help="default: the model's training ratio")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the images")
    p.add_argument("--n", type=_positive_int, default=8, help="number of images (rows)")
    p.add_argument("--scale", type=_scale, default=4, help=f"pixel upscaling in the PNG (1-{MAX_SCALE})")
    p.add_argument("--out", default="reconstruction.png")
    p.add_argument("--shape", choices=SHAPE_NAMES, help="one image of this shape, and its verdict")
    p.add_argument("--x", type=float, help="with --shape: centre x (0-1; default 0.5)")
    p.add_argument("--y", type=float, help="with --shape: centre y, downwards (default 0.5)")
    p.add_argument("--mask", metavar="HEX", help="with --shape: a drawn mask (URL mask= value)")
    p.add_argument("--json", action="store_true", help="with --shape: print one JSON object")
    _add_device(p)
    _add_allow_large(p)


PANELS = "original | masked | reconstruction | reconstruction + visible"


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """Write a PNG grid of masked reconstructions."""
    import torch

    from toymae.app.images import save_reconstruction_grid
    from toymae.config import mask_ratio_problem
    from toymae.data import eval_set
    from toymae.inference import reconstruct

    ckpt = _load(args.checkpoint, args.device, allow_large=args.allow_large)
    patches = ckpt.train_config.model.num_patches
    if args.mask_ratio is not None and (why := mask_ratio_problem(args.mask_ratio, patches)):
        raise UsageError(f"--mask-ratio {why}")
    if args.shape is not None:
        return _reconstruct_one(ckpt, args)
    if given := [f for f in ("mask", "x", "y", "json") if getattr(args, f) not in (None, False)]:
        raise UsageError(f"--{given[0]} needs --shape (one image)")
    batch = eval_set(args.n, ckpt.train_config.data, args.data_seed, "show")
    gen = torch.Generator().manual_seed(args.seed)
    rec = reconstruct(ckpt.model, batch.images, mask_ratio=args.mask_ratio, generator=gen)
    path = save_reconstruction_grid(rec, args.out, scale=args.scale)
    print(f"wrote {path} ({args.n} rows: {PANELS})")
    print(f"loss on hidden patches: {rec.loss:.4f}")
    return 0


def _reconstruct_one(ckpt, args: argparse.Namespace) -> int:
    """One ShapeWorld image, as the Reconstruct page shows it (same call, same verdict)."""
    from toymae import masks
    from toymae.app.explore import make_shape
    from toymae.app.images import save_reconstruction_grid
    from toymae.app.reconstruct_view import reconstruct_view

    m = ckpt.train_config.model
    if args.mask is not None and args.mask_ratio is not None:
        raise UsageError("--mask draws the mask: leave out --mask-ratio")
    hidden = None
    if args.mask is not None and (hidden := masks.from_text(args.mask, m.grid_size)) is None:
        grid = f"{m.grid_size}x{m.grid_size}"
        raise UsageError(f"--mask must be the hex text of a {grid} mask (the dashboard's mask= URL value)")
    x, y = (0.5 if v is None else v for v in (args.x, args.y))
    for name, v in (("--x", x), ("--y", y)):
        if not 0 <= v <= 1:
            raise UsageError(f"{name} must be in [0, 1], got {v}")
    shape = make_shape(args.shape, x, y, ckpt.train_config.data)
    ratio = m.mask_ratio if args.mask_ratio is None else args.mask_ratio
    view = reconstruct_view(
        ckpt.model, shape.images, hidden=hidden, mask_ratio=ratio, seed=args.seed, shape=shape,
        uncertainty_masks=0,  # the command draws no uncertainty map
    )  # fmt: skip
    path = save_reconstruction_grid(view.rec, args.out, scale=args.scale)
    v, mask_text = view.verdict, masks.to_text(view.hidden)
    if args.json:
        out = {"verdict": v.label, "score": v.score, "reason": v.reason, "n_hidden": view.n_hidden}
        out |= {"n_patches": m.num_patches, "loss_hidden": view.rec.loss, "mask": mask_text, "png": str(path)}
        print(json.dumps(out))
        return 0
    score = "" if v.score is None else f" (score {v.score:.2f})"
    print(f"{args.shape} at ({x:g}, {y:g}): {v.label}{score}: {v.reason}")
    print(f"{view.n_hidden} of {m.num_patches} patches hidden; loss on hidden patches {view.rec.loss:.4f}")
    print(f"wrote {path} ({PANELS}); mask={mask_text}")
    return 0


# ------------------------------------------------------------------ hallucinate
def add_hallucinate(sub) -> None:
    p = _command(sub, cmd_hallucinate)
    p.add_argument("checkpoint")
    p.add_argument("--mask-ratio", type=float, required=True)
    p.add_argument("--n", type=_positive_int, default=1000, help="number of evaluation images")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the evaluation images")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks")
    p.add_argument("--threshold", type=float, default=0.5, help="score above which an image counts")
    p.add_argument(
        "--min-pixels", type=_positive_int, default=8, help="fewer differing hidden pixels: undecidable"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--gallery", metavar="PNG", help="also write a PNG of the worst cases")
    p.add_argument("--k", type=_positive_int, default=8, help="rows in the gallery")
    _add_device(p)
    _add_allow_large(p)


def cmd_hallucinate(args: argparse.Namespace) -> int:
    """Measure how often hidden parts are drawn as the other shape."""
    from toymae.config import mask_ratio_problem
    from toymae.data import eval_set
    from toymae.eval.hallucination import evaluate_hallucination
    from toymae.eval.text import hallucination_lines

    ckpt = _load(args.checkpoint, args.device, allow_large=args.allow_large)
    for flag, v in (("--mask-ratio", args.mask_ratio), ("--threshold", args.threshold)):
        if not 0 <= v < 1:
            raise UsageError(f"{flag} must be in [0, 1), got {v}")
    if why := mask_ratio_problem(args.mask_ratio, ckpt.train_config.model.num_patches):
        raise UsageError(f"--mask-ratio {why}")
    batch = eval_set(args.n, ckpt.train_config.data, args.data_seed, "hallucination")
    a = args
    report = evaluate_hallucination(ckpt.model, batch, a.mask_ratio, a.seed, a.threshold, a.min_pixels)
    summary = report.summary()
    if args.gallery:
        from toymae.app.images import save_hallucination_gallery

        save_hallucination_gallery(report, args.gallery, k=args.k)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"checkpoint {args.checkpoint} at mask ratio {args.mask_ratio} on {summary['n']} images")
    print("\n".join(hallucination_lines(summary, args.min_pixels)))
    if args.gallery:
        panels = "original | masked | reconstruction + visible | other shape | votes"
        print(f"wrote {args.gallery} (worst first: {panels})")
    return 0


# ------------------------------------------------------------------ reproduce
def add_reproduce(sub) -> None:
    p = _command(sub, cmd_reproduce)
    p.add_argument("--out", default="runs/reproduce", help="output folder (jobs, checkpoints, tables)")
    p.add_argument("--seeds", type=_positive_int, default=3, help="pretraining seeds per configuration")
    datasets = ", ".join(DATASETS)
    p.add_argument(
        "--data", default="default", help=f"named datasets, comma-separated ({datasets}); e.g. default,varied"
    )
    p.add_argument("--steps", type=_positive_int, default=None, help="override the training budget")
    p.add_argument("--quick", action="store_true", help="a tiny end-to-end version (under 2 minutes)")
    p.add_argument(
        "--cells", metavar="NAMES", help="comma-separated subset, e.g. ratio0.6-dec1,ratio0.6-dec4"
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="local processes, cores split between them (default: one per core, one thread each: "
        "1.8x the images/s of one job on both cores here, docs/speed.md)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where local jobs train (workers share one GPU)",
    )
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="submit to a Dask distributed cluster")
    p.add_argument("--threads", type=_positive_int, default=None, help="compute threads per job on Dask")
    p.add_argument("--ship", metavar="DIR", help="copy seed-0 checkpoints + manifest.json to DIR")
    p.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: tables (and --ship) from the jobs already finished in --out",
    )


def cmd_reproduce(args: argparse.Namespace) -> int:
    """The blog's two sweeps with seeds: tables in JSON, CSV, Markdown."""
    from toymae.reproduce import run as rr

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    cells = args.cells.split(",") if args.cells else None
    try:
        jobs = rr.plan(args.data.split(","), args.seeds, args.quick, args.steps, cells)
        if args.finished_only:
            jobs = rr.finished(jobs, args.out)
        where = rr.executor(args.scheduler, args.threads, args.workers, args.device)
    except rr.PlanError as e:
        raise UsageError(str(e)) from None
    print(rr.run(jobs, args.out, where, args.argv, ship_to=args.ship, log=log))
    return 0


# ------------------------------------------------------------------ pca
def add_pca(sub) -> None:
    p = _command(sub, cmd_pca)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--n", type=_positive_int, default=600, help="images per split")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--protocol", choices=PROTOCOLS, default="mean", help="features (see probe --help)")
    p.add_argument("--out", default="pca.png")
    _add_device(p)
    _add_allow_large(p)


def cmd_pca(args: argparse.Namespace) -> int:
    """PNG of the 2-D PCA of encoder features, one panel per checkpoint."""
    from toymae.app.images import pca_panels_png
    from toymae.app.representation_view import representation_view

    panels = []
    for path in args.checkpoints:
        ckpt = _load(path, args.device, allow_large=args.allow_large)
        cfg, m = ckpt.train_config, ckpt.train_config.model
        view = representation_view(
            ckpt.model, cfg.data, cfg.seed, args.protocol, n=args.n, data_seed=args.data_seed
        )
        pca, rand = view.trained["pca2"].mean, view.random_init["pca2"].mean
        title = (
            f"{Path(path).stem}: ratio {m.mask_ratio:g}, decoder {m.decoder_depth} - PCA-2 acc {pca:.3f} "
            f"(random init {rand:.3f})"
        )
        panels.append((title, view.points, view.test.shape.numpy()))
        print(title)
    pca_panels_png(panels, args.out)
    print(
        f"wrote {args.out} ({args.protocol} features of held-out images on the train split's first two "
        "PCs; blue circle, red square)"
    )
    return 0


# ------------------------------------------------------------------ info
def add_info(sub) -> None:
    p = _command(sub, cmd_info)
    p.add_argument("checkpoint")
    _add_allow_large(p)


def cmd_info(args: argparse.Namespace) -> int:
    """Print a checkpoint's config and summary."""
    from toymae.model import count_parameters

    ckpt = _load(args.checkpoint, None, run=False, allow_large=args.allow_large)  # prints, runs nothing
    info = {
        "config": ckpt.train_config.to_dict(),
        "summary": {k: v for k, v in ckpt.summary.items() if k != "history"},
        "parameters": count_parameters(ckpt.model),
        "resumable": "train.step" in ckpt.extra,
    }
    print(json.dumps(info, indent=2))
    return 0


# ------------------------------------------------------------------ export
def add_export(sub) -> None:
    p = _command(sub, cmd_export)
    p.add_argument("checkpoint")
    p.add_argument("--to", choices=("transformers",), required=True, help="the format")
    p.add_argument("out", metavar="DIR", help="output folder (config.json, model.safetensors)")


def cmd_export(args: argparse.Namespace) -> int:
    """Write a checkpoint as a transformers ViTMAEForPreTraining folder."""
    from toymae.checkpoint import WriteError
    from toymae.export import export_transformers  # imports transformers when it runs

    ckpt = _load(args.checkpoint, "cpu", run=False)
    try:
        out = export_transformers(ckpt, args.out)
    except (ValueError, WriteError) as e:  # ExportError is a ValueError
        raise UsageError(str(e)) from None
    print(f"wrote {out} (load with transformers.ViTMAEForPreTraining.from_pretrained)")
    return 0


# ------------------------------------------------------------------ dashboard
def add_dashboard(sub) -> None:
    p = _command(sub, cmd_dashboard)
    p.add_argument("--port", type=int, default=8501, help="port to serve on")
    p.add_argument(
        "streamlit_args",
        nargs=argparse.REMAINDER,
        metavar="...",
        help="further `streamlit run` options after --, e.g. -- --server.address 127.0.0.1",
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Start the Streamlit dashboard (needs the app extra: pip install 'toymae[app]')."""
    import importlib.util
    import os

    from toymae.shipped import shipped_path

    app = shipped_path("app.py")
    if not app.is_file():
        raise UsageError(f"no dashboard at {app} (this copy of toymae was installed without it)")
    if importlib.util.find_spec("streamlit") is None:
        raise UsageError("the dashboard needs Streamlit and Plotly: pip install 'toymae[app]'")
    extra = [a for a in args.streamlit_args if a != "--"]
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port), *extra]
    # This process becomes the server (Streamlit reads the .streamlit/config.toml beside app.py), so a
    # signal that stops `toymae dashboard` stops the server rather than orphaning it.
    os.execv(sys.executable, cmd)


COMMANDS = (
    add_train,
    add_probe,
    add_reconstruct,
    add_hallucinate,
    add_reproduce,
    add_pca,
    add_info,
    add_export,
    add_dashboard,
)  # --help order
