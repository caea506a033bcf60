"""Training throughput: toymae's MAE against a models_mae.py-style reference, side by side.

Both models get the same config, batch, masking ratio and optimiser; rounds alternate between them so
machine noise hits both alike. Prints images/s, the ratio, and model FLOP utilisation (analytic
FLOPs, see ``training_flops_per_image``) against a large matmul's measured peak.

    python bench/throughput.py [--batch 128] [--rounds 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference_mae import ReferenceMAE
from toymae.config import ShapeWorldConfig
from toymae.data import make_generator, sample
from toymae.model import MAEConfig, MaskedAutoencoder
from toymae.train import cpu_bf16_matmul, resolve_precision


def training_flops_per_image(config: MAEConfig) -> float:
    """Analytic FLOPs of one training step per image (forward + backward = 3x forward).

    Counts matmuls (2 FLOPs per multiply-add) in the linears and attention; norms and activations
    are negligible at these widths.
    """
    c = config
    L = c.num_patches
    n_enc = 1 + int(L * (1 - c.mask_ratio))
    n_dec = 1 + L

    def blocks(n: int, d: int, depth: int) -> float:
        hidden = int(d * c.mlp_ratio)
        linear = 2 * n * (3 * d * d + d * d + 2 * d * hidden)
        attention = 2 * 2 * n * n * d  # q @ k^T and attn @ v
        return depth * (linear + attention)

    forward = (
        2 * L * c.patch_dim * c.embed_dim
        + blocks(n_enc, c.embed_dim, c.depth)
        + 2 * n_enc * c.embed_dim * c.decoder_embed_dim
        + blocks(n_dec, c.decoder_embed_dim, c.decoder_depth)
        + 2 * n_dec * c.decoder_embed_dim * c.patch_dim
    )
    return 3.0 * forward


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def make_step(model, loss_fn, imgs, bf16: bool):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = loss_fn(imgs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def images_per_s(step, steps: int, batch: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = MAEConfig()
    imgs = sample(args.batch, ShapeWorldConfig(image_size=cfg.image_size), make_generator(0)).images
    ours_precision = resolve_precision("auto", torch.device("cpu"))
    ours = MaskedAutoencoder(cfg, torch.Generator().manual_seed(0))
    ref = ReferenceMAE(cfg)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    contenders = {
        f"toymae ({ours_precision}, default)": make_step(
            ours, lambda x: ours(x, generator=g1).loss, imgs, ours_precision == "bf16"
        ),
        "toymae (fp32)": make_step(ours, lambda x: ours(x, generator=g1).loss, imgs, False),
        "reference (fp32)": make_step(ref, lambda x: ref(x, cfg.mask_ratio, g2)[0], imgs, False),
        "reference (bf16 autocast)": make_step(ref, lambda x: ref(x, cfg.mask_ratio, g2)[0], imgs, True),
    }
    for step in contenders.values():  # warm-up (allocator, oneDNN primitive caches)
        for _ in range(3):
            step()
    results: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for name, step in contenders.items():
            results[name].append(images_per_s(step, args.steps, args.batch))
    med = {k: statistics.median(v) for k, v in results.items()}

    flops = training_flops_per_image(cfg)
    peak32 = matmul_peak(torch.float32)
    peak16 = matmul_peak(torch.bfloat16)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, bf16 matmul instructions: {cpu_bf16_matmul()}"
    )
    print(f"config: {cfg}")
    print(f"batch {args.batch}, {args.rounds} rounds x {args.steps} steps, median images/s")
    print(f"analytic training FLOPs per image: {flops / 1e6:.1f} MFLOP")
    print(f"matmul peak (2048^2): fp32 {peak32 / 1e9:.0f} GFLOP/s, bf16 {peak16 / 1e9:.0f} GFLOP/s")
    ref_ips = med["reference (fp32)"]
    for name, ips in med.items():
        peak = peak16 if "bf16" in name else peak32
        print(
            f"  {name:<28} {ips:8.0f} img/s  x{ips / ref_ips:4.2f} vs reference fp32   "
            f"MFU {ips * flops / peak:5.1%} of {'bf16' if 'bf16' in name else 'fp32'} peak"
        )


if __name__ == "__main__":
    main()
