"""Command line: ``python -m toymae {train,probe,reconstruct,info} ...`` (``--help`` on each).

Every training-config field is a flag, generated from the dataclasses so the CLI never drifts from
the library. User mistakes (bad flags, bad values, bad files) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from dataclasses import MISSING, fields, replace
from pathlib import Path

from toymae import __version__

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit code 2."""


# ------------------------------------------------------------------ config flags from dataclasses
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(tp: object) -> object:
    """``int | None`` -> int; other types unchanged."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _add_dataclass_flags(group: argparse._ArgumentGroup, cls: type, skip: set[str], dest_prefix: str):
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not MISSING else None
        kwargs: dict = {"dest": dest_prefix + f.name, "default": None}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is tuple:
            kwargs.update(type=float, nargs=2, metavar=("LO", "HI"))
        else:
            kwargs["type"] = tp
        kwargs["help"] = f"(default: {default})"
        group.add_argument(_flag(f.name), **kwargs)


def add_train_config_flags(parser: argparse.ArgumentParser) -> None:
    from toymae.config import MAEConfig, TrainConfig
    from toymae.data import DATASETS, ShapeWorldConfig

    parser.add_argument("--image-size", type=int, default=None, help="image side in pixels (default: 32)")
    parser.add_argument(
        "--data",
        dest="dataset",
        choices=list(DATASETS),
        default=None,
        help="a named dataset, which the data flags below change further (when omitted: default)",
    )
    _add_dataclass_flags(parser.add_argument_group("model"), MAEConfig, {"image_size"}, "model.")
    _add_dataclass_flags(parser.add_argument_group("data"), ShapeWorldConfig, {"image_size"}, "data.")
    _add_dataclass_flags(parser.add_argument_group("training"), TrainConfig, {"model", "data"}, "train.")


def train_config_from_args(args: argparse.Namespace, base=None):
    """Apply the flags the user gave on top of ``base`` (default: the default TrainConfig)."""
    from toymae.config import TrainConfig
    from toymae.data import dataset

    base = base or TrainConfig()
    given = {k: v for k, v in vars(args).items() if v is not None}
    if "dataset" in given:
        base = replace(base, data=dataset(given["dataset"], base.data.image_size))
    pick = lambda prefix: {k[len(prefix) :]: v for k, v in given.items() if k.startswith(prefix)}  # noqa: E731
    model_kw, data_kw, train_kw = pick("model."), pick("data."), pick("train.")
    if "image_size" in given:
        model_kw["image_size"] = data_kw["image_size"] = given["image_size"]
    if "size_range" in data_kw:
        data_kw["size_range"] = tuple(data_kw["size_range"])
    try:
        model = replace(base.model, **model_kw)
        data = replace(base.data, **data_kw)
        return replace(base, model=model, data=data, **train_kw)
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None


# ------------------------------------------------------------------ commands
def cmd_train(args: argparse.Namespace) -> int:
    from toymae.train import Trainer

    if args.resume:
        trainer = _wrap_checkpoint_errors(
            lambda: Trainer.resume(args.resume, args.device, getattr(args, "train.steps"))
        )
        config = trainer.config
    else:
        config = train_config_from_args(args)
        trainer = Trainer(config, args.device)
    out = Path(args.out)
    print(
        f"training {config.steps} steps (from step {trainer.step}) on {trainer.device} "
        f"[{trainer.precision}] -> {out}",
        file=sys.stderr,
    )
    try:
        summary = trainer.run(progress=not args.quiet, checkpoint_path=out)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted at step {trainer.step}; state saved to {out} (resume with --resume)",
            file=sys.stderr,
        )
        return 130
    keys = ("steps", "final_loss", "held_out_loss", "probe_acc", "pca2_acc", "precision")
    print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


def _wrap_checkpoint_errors(fn):
    from toymae.checkpoint import CheckpointError

    try:
        return fn()
    except (CheckpointError, ValueError) as e:
        raise UsageError(str(e)) from None


def _load(path: str, device: str | None, run: bool = True):
    """Load a checkpoint; with ``run``, also refuse a model whose outputs are NaN or infinite."""
    from toymae.checkpoint import load_checkpoint
    from toymae.finite import NonFiniteOutputError, check_model_outputs

    ckpt = _wrap_checkpoint_errors(lambda: load_checkpoint(path, device))
    if run:
        try:
            check_model_outputs(ckpt.model, ckpt.train_config.data)
        except NonFiniteOutputError as e:
            raise UsageError(f"{path}: {e}") from None
    return ckpt


def cmd_probe(args: argparse.Namespace) -> int:
    from toymae.data import eval_set
    from toymae.eval.study import PROTOCOLS, metric_key, representation_study
    from toymae.probe import probe_model

    ckpt = _load(args.checkpoint, args.device)
    data_cfg = ckpt.train_config.data
    train = eval_set(args.n, data_cfg, args.data_seed, "probe-train")
    test = eval_set(args.n, data_cfg, args.data_seed, "probe-test")
    report = probe_model(ckpt.model, train, test).to_dict()
    protocols = PROTOCOLS if args.json or args.protocol == "all" else (args.protocol,)
    report.update(representation_study(ckpt.model, train, test, ckpt.train_config.seed, protocols))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"checkpoint       {args.checkpoint}")
    n_tr, n_te = report["n_train"], report["n_test"]
    print(f"shape probe acc  {report['probe_acc']:.4f}  (n_train={n_tr}, n_test={n_te})")
    print(f"PCA-2 probe acc  {report['pca2_acc']:.4f}")
    for k in ("r2_x", "r2_y", "r2_size"):
        v = report[k]
        print(f"{k:<16} {'n/a (constant factor)' if v is None else f'{v:.4f}'}")
    labels = ("16", "64", "256", "all", "pca2") if args.labels == "every" else (args.labels,)
    print(f"\nshape accuracy by protocol and labelled images (random init: seed {ckpt.train_config.seed})")
    print(f"{'protocol':<9} {'labels':<7} {'trained':>8} {'random init':>12} {'difference':>11}")
    for p in protocols:
        for lab in labels:
            key = metric_key(lab)
            t, r = report["protocols"][p][key], report["random_init"][p][key]
            print(f"{p:<9} {lab:<7} {t:>8.3f} {r:>12.3f} {t - r:>+11.3f}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from toymae.app.images import save_reconstruction_grid
    from toymae.data import eval_set
    from toymae.inference import reconstruct

    ckpt = _load(args.checkpoint, args.device)
    if args.mask_ratio is not None and not 0 <= args.mask_ratio < 1:
        raise UsageError(f"--mask-ratio must be in [0, 1), got {args.mask_ratio}")
    if args.shape is not None:
        return _reconstruct_one(ckpt, args)
    if given := [f for f in ("mask", "x", "y", "json") if getattr(args, f) not in (None, False)]:
        raise UsageError(f"--{given[0]} needs --shape (one image)")
    batch = eval_set(args.n, ckpt.train_config.data, args.data_seed, "show")
    gen = torch.Generator().manual_seed(args.seed)
    rec = reconstruct(ckpt.model, batch.images, mask_ratio=args.mask_ratio, generator=gen)
    path = save_reconstruction_grid(rec, args.out, scale=args.scale)
    print(f"wrote {path} ({args.n} rows: original | masked | reconstruction | reconstruction + visible)")
    print(f"loss on hidden patches: {rec.loss:.4f}")
    return 0


def _reconstruct_one(ckpt, args: argparse.Namespace) -> int:
    """One ShapeWorld image, as the Reconstruct page shows it (same call, same verdict)."""
    from toymae import masks
    from toymae.app.explore import make_shape
    from toymae.app.images import save_reconstruction_grid
    from toymae.app.reconstruct_view import reconstruct_view

    m = ckpt.train_config.model
    drawn = None
    if args.mask is not None and args.mask_ratio is not None:
        raise UsageError("--mask draws the mask: leave out --mask-ratio")
    x = 0.5 if args.x is None else args.x
    y = 0.5 if args.y is None else args.y
    if args.mask is not None:
        drawn = masks.from_text(args.mask, m.grid_size)
        if drawn is None:
            raise UsageError(
                f"--mask must be the hex text of a {m.grid_size}x{m.grid_size} mask (the dashboard's "
                "mask= URL value)"
            )
    for name, v in (("--x", x), ("--y", y)):
        if not 0 <= v <= 1:
            raise UsageError(f"{name} must be in [0, 1], got {v}")
    shape = make_shape(args.shape, x, y, ckpt.train_config.data)
    ratio = m.mask_ratio if args.mask_ratio is None else args.mask_ratio
    view = reconstruct_view(
        ckpt.model, shape.images, mask=drawn, mask_ratio=ratio, seed=args.seed, shape=shape,
        uncertainty_masks=0,  # the command draws no uncertainty map
    )  # fmt: skip
    path = save_reconstruction_grid(view.rec, args.out, scale=args.scale)
    v = view.verdict
    out = {
        "verdict": v.label,
        "score": v.score,
        "reason": v.reason,
        "n_hidden": view.n_hidden,
        "n_patches": m.num_patches,
        "loss_hidden": view.rec.loss,
        "mask": masks.to_text(view.hidden),
        "png": str(path),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    score = "" if v.score is None else f" (score {v.score:.2f})"
    print(f"{args.shape} at ({x:g}, {y:g}): {v.label}{score}: {v.reason}")
    print(f"{view.n_hidden} of {m.num_patches} patches hidden; loss on hidden patches {view.rec.loss:.4f}")
    print(f"wrote {path} (original | masked | reconstruction | reconstruction + visible); mask={out['mask']}")
    return 0


def cmd_hallucinate(args: argparse.Namespace) -> int:
    from toymae.data import eval_set
    from toymae.eval.hallucination import evaluate_hallucination

    ckpt = _load(args.checkpoint, args.device)
    if not 0 <= args.mask_ratio < 1:
        raise UsageError(f"--mask-ratio must be in [0, 1), got {args.mask_ratio}")
    if not 0 <= args.threshold < 1:
        raise UsageError(f"--threshold must be in [0, 1), got {args.threshold}")
    batch = eval_set(args.n, ckpt.train_config.data, args.data_seed, "hallucination")
    report = evaluate_hallucination(
        ckpt.model, batch, args.mask_ratio, args.seed, args.threshold, args.min_pixels
    )
    summary = report.summary()
    if args.gallery:
        from toymae.app.images import save_hallucination_gallery

        save_hallucination_gallery(report, args.gallery, k=args.k)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"checkpoint {args.checkpoint} at mask ratio {args.mask_ratio} on {summary['n']} images")
    print(_rate_line("all", summary))
    for name, row in summary["by_shape"].items():
        print(_rate_line(f"true {name}", row))
    print("by visible fraction of the object:")
    for row in summary["by_visible_object_fraction"]:
        print(_rate_line(f"  {row['lo']:.1f}-{row['hi']:.1f}", row))
    undecidable = summary["n"] - summary["n_decidable"]
    print(f"{undecidable} undecidable (fewer than {args.min_pixels} hidden pixels where the shapes differ)")
    if args.gallery:
        panels = "original | masked | reconstruction + visible | other shape | votes"
        print(f"wrote {args.gallery} (worst first: {panels})")
    return 0


def _rate_line(label: str, row: dict) -> str:
    if not row["n_decidable"]:
        return f"{label:<14} rate   n/a   (0 decidable)"
    lo, hi = row["ci95"]
    return (
        f"{label:<14} rate {row['rate']:6.3f}  [{lo:.3f}, {hi:.3f}]  "
        f"({row['n_hallucinated']}/{row['n_decidable']} decidable)"
    )


def cmd_reproduce(args: argparse.Namespace) -> int:
    import time

    import torch

    from toymae import reproduce as rp
    from toymae.data import DATASETS

    datasets = args.data.split(",")
    if unknown := set(datasets) - set(DATASETS):
        raise UsageError(f"unknown datasets {sorted(unknown)}; known: {', '.join(DATASETS)}")
    seeds = list(range(args.seeds))
    quick_spec = rp.EvalSpec(probe_train=256, probe_test=512, halluc_n=200, study_test=256, label_draws=2)
    spec = quick_spec if args.quick else rp.EvalSpec()
    jobs = []
    for data in datasets:
        base = rp.base_config(quick=args.quick, data=data)
        if args.steps is not None:
            base = replace(base, steps=args.steps)
        cells = rp.blog_cells(data)
        if args.cells:
            wanted = set(args.cells.split(","))
            if unknown := wanted - {c.name for c in rp.blog_cells()}:
                known = ", ".join(c.name for c in rp.blog_cells())
                raise UsageError(f"unknown cells {sorted(unknown)}; known: {known}")
            cells = [c for c, plain in zip(cells, rp.blog_cells(), strict=True) if plain.name in wanted]
        jobs += rp.make_jobs(base, seeds, cells=cells, eval_spec=spec)
    out = Path(args.out)
    if args.finished_only:
        finished = rp.load_done(out, jobs)
        jobs = [j for j in jobs if j.key in finished]
        if not jobs:
            raise UsageError(f"--finished-only: none of these jobs has finished in {out}")
    if args.scheduler:
        try:
            executor = rp.DaskExecutor(args.scheduler, threads=args.threads)
        except (RuntimeError, OSError) as e:
            raise UsageError(str(e)) from None
        name = f"dask {args.scheduler}"
    else:
        if args.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available")
        executor = rp.LocalExecutor(args.workers, device=args.device)
        name = f"local, {args.workers} worker(s) on {args.device}"
    done = len(rp.load_done(out, jobs))
    print(
        f"{len(jobs)} jobs ({len(jobs) - done} to run, {done} already done) -> {out} [{name}]",
        file=sys.stderr,
    )
    t0 = time.perf_counter()

    def report(job, result):
        print(
            f"  {job.name:<24} probe {result['probe_acc']:.3f}  pca2 {result['pca2_acc']:.3f}  "
            f"loss {result['held_out_loss']:.4f}  {result['train_seconds']:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    results = rp.run_sweep(jobs, out, executor, on_result=report)
    meta = rp.run_meta(args.argv, time.perf_counter() - t0, name)
    paths = rp.write_reports(out, results, meta)
    print(rp.markdown_tables(rp.aggregate(results)))
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    if args.ship:
        manifest = rp.ship(out, jobs, args.ship, meta)
        print(f"shipped seed-0 checkpoints and {manifest}", file=sys.stderr)
    return 0


def cmd_pca(args: argparse.Namespace) -> int:
    from toymae.app.images import pca_panels_png
    from toymae.app.representation_view import representation_view

    panels = []
    for path in args.checkpoints:
        ckpt = _load(path, args.device)
        cfg = ckpt.train_config
        view = representation_view(
            ckpt.model, cfg.data, cfg.seed, args.protocol, n=args.n, data_seed=args.data_seed
        )
        pca, rand = view.trained["pca2"].mean, view.random_init["pca2"].mean
        m = cfg.model
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


def cmd_info(args: argparse.Namespace) -> int:
    from toymae.model import count_parameters

    ckpt = _load(args.checkpoint, None, run=False)  # prints the file, runs nothing
    summary = {k: v for k, v in ckpt.summary.items() if k != "history"}
    print(
        json.dumps(
            {
                "config": ckpt.train_config.to_dict(),
                "summary": summary,
                "parameters": count_parameters(ckpt.model),
                "resumable": "train.step" in ckpt.extra,
            },
            indent=2,
        )
    )
    return 0


# ------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from toymae.data import DATASETS, SHAPE_NAMES
    from toymae.eval.study import PROTOCOLS

    parser = _Parser(prog="toymae", description="A toy masked autoencoder on ShapeWorld.")
    parser.add_argument("--version", action="version", version=f"toymae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("train", help="pretrain an MAE and write a checkpoint", formatter_class=fmt)
    p.add_argument("--out", default="runs/model.safetensors", help="checkpoint path")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a run saved with its training state")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    add_train_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("probe", help="linear probes on a checkpoint's encoder features", formatter_class=fmt)
    p.add_argument("checkpoint")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the probe's train/test sets")
    p.add_argument("--n", type=_positive_int, default=2000, help="images per split (train and test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--protocol",
        choices=(*PROTOCOLS, "all"),
        default="all",
        help="feature protocol for the readable view (--json reports every protocol)",
    )
    p.add_argument(
        "--labels",
        choices=("16", "64", "256", "all", "pca2", "every"),
        default="every",
        help="labelled images for the readable view (pca2: the first two principal components)",
    )
    _add_device(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("reconstruct", help="write a PNG grid of masked reconstructions", formatter_class=fmt)
    p.add_argument("checkpoint")
    p.add_argument("--mask-ratio", type=float, default=None, help="default: the model's training ratio")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the images")
    p.add_argument("--n", type=_positive_int, default=8, help="number of images (rows)")
    p.add_argument("--scale", type=_positive_int, default=4, help="pixel upscaling in the PNG")
    p.add_argument("--out", default="reconstruction.png")
    p.add_argument(
        "--shape", choices=SHAPE_NAMES, help="one image of this shape (as the dashboard); prints its verdict"
    )
    p.add_argument("--x", type=float, help="with --shape: centre x (0-1; default 0.5)")
    p.add_argument("--y", type=float, help="with --shape: centre y, downwards (default 0.5)")
    p.add_argument("--mask", metavar="HEX", help="with --shape: a drawn mask (URL mask= value)")
    p.add_argument("--json", action="store_true", help="with --shape: print one JSON object")
    _add_device(p)
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser(
        "hallucinate", help="measure how often hidden parts are drawn as the other shape", formatter_class=fmt
    )
    p.add_argument("checkpoint")
    p.add_argument("--mask-ratio", type=float, required=True)
    p.add_argument("--n", type=_positive_int, default=1000, help="number of evaluation images")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the evaluation images")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks")
    p.add_argument("--threshold", type=float, default=0.5, help="score above which an image counts")
    p.add_argument(
        "--min-pixels", type=_positive_int, default=8, help="fewer discriminative hidden pixels: undecidable"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--gallery", metavar="PNG", help="also write a PNG of the worst cases")
    p.add_argument("--k", type=_positive_int, default=8, help="rows in the gallery")
    _add_device(p)
    p.set_defaults(func=cmd_hallucinate)

    p = sub.add_parser(
        "reproduce",
        help="the blog's two sweeps with seeds: tables in JSON, CSV, Markdown",
        formatter_class=fmt,
    )
    p.add_argument("--out", default="runs/reproduce", help="output folder (jobs, checkpoints, tables)")
    p.add_argument("--seeds", type=_positive_int, default=3, help="pretraining seeds per configuration")
    p.add_argument(
        "--data",
        default="default",
        help=f"named datasets, comma-separated ({', '.join(DATASETS)}); e.g. default,varied",
    )
    p.add_argument("--steps", type=_positive_int, default=None, help="override the training budget")
    p.add_argument("--quick", action="store_true", help="a tiny end-to-end version (under 2 minutes)")
    p.add_argument(
        "--cells", metavar="NAMES", help="comma-separated subset, e.g. ratio0.6-dec1,ratio0.6-dec4"
    )
    p.add_argument("--workers", type=_positive_int, default=1, help="local processes (cores are split)")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where local jobs train (workers share one GPU)",
    )
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="submit to a Dask distributed cluster")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch threads per job on Dask")
    p.add_argument("--ship", metavar="DIR", help="copy seed-0 checkpoints + manifest.json to DIR")
    p.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: tables (and --ship) from the jobs already finished in --out",
    )
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "pca", help="PNG of the 2-D PCA of encoder features, one panel per checkpoint", formatter_class=fmt
    )
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--n", type=_positive_int, default=600, help="images per split")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--protocol", choices=PROTOCOLS, default="mean", help="features (see probe --help)")
    p.add_argument("--out", default="pca.png")
    _add_device(p)
    p.set_defaults(func=cmd_pca)

    p = sub.add_parser("info", help="print a checkpoint's config and summary", formatter_class=fmt)
    p.add_argument("checkpoint")
    p.set_defaults(func=cmd_info)
    return parser


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # recorded by `reproduce`
    try:
        return args.func(args)
    except UsageError as e:
        print(f"toymae {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:
        from toymae.finite import NonFiniteOutputError  # here, not at the top: --help stays torch-free

        if not isinstance(e, NonFiniteOutputError):
            raise
        print(f"toymae {args.command}: error: {e}", file=sys.stderr)  # a broken model, one line
        return EXIT_USAGE
