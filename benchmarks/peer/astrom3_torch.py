"""Peer benchmark: one AstroM3 CLIP pre-training step in PyTorch (CPU or CUDA).

    /usr/bin/python3 benchmarks/peer/astrom3_torch.py [--batch 64] [--threads 2]
        [--warmup 2] [--steps 10] [--json PATH] [--device cpu|cuda] [--tf32]
        [--precision fp32|tf32|bf16]

The model is tests/reference/astrom3_ref.py at the real AstroM3 sizes with the CLIP
pre-training dropouts active (p .245 / s .339 / m .160; Informer's embedding dropout 0.1),
random ProbSparse key sampling, random inputs. One step = zero_grad + forward + trimodal
CLIP loss + backward + clip_grad_norm_(45) + Adam(lr 3.92e-3, betas (0.926, 0.999),
weight_decay 4.67e-3) step over every parameter (logit scales included; their clamp to
[1, 100] is part of the forward).

--device cuda moves the model, the inputs and the optimizer state to the GPU, times each
step between torch.cuda.synchronize() calls and reports torch.cuda.max_memory_allocated.
TF32 is off for matmuls and cuDNN convolutions unless --tf32 is given (astromm's CUDA
backend runs full FP32 unless ASTROMM_TF32=1), so both sides do the same arithmetic.
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "reference"))
import astrom3_ref as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="AstroM3 PyTorch training-step benchmark")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--tf32", action="store_true",
                    help="allow TF32 tensor cores on CUDA (default: full FP32)")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default=None,
                    help="CUDA arithmetic: fp32 (default), tf32 (= --tf32), or bf16 autocast "
                         "(torch.autocast, bf16 matmuls/convolutions, fp32 master weights; "
                         "TF32 on for what autocast leaves in fp32)")
    args = ap.parse_args()

    cuda = args.device == "cuda"
    precision = args.precision or ("tf32" if args.tf32 else "fp32")
    if precision != "fp32" and not cuda:
        sys.exit("astrom3_torch.py: --precision %s needs --device cuda" % precision)
    args.tf32 = precision in ("tf32", "bf16")
    if cuda and not torch.cuda.is_available():
        sys.exit("astrom3_torch.py: --device cuda but this PyTorch (%s) sees no usable GPU"
                 % torch.__version__)
    dev = torch.device(args.device)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = ref.AstroM3Config(p_dropout=0.245, s_dropout=0.339, m_dropout=0.160,
                            p_embed_dropout=0.1)
    model = ref.AstroM3(cfg).to(dev)
    model.train()
    model.set_probsparse_samples(None)  # torch.randint sampling every forward

    B, L = args.batch, cfg.seq_len
    photometry = torch.randn(B, L, cfg.photo_in)
    mask = torch.ones(B, L)
    for b in range(0, B, 3):  # some light curves shorter than L (zero-padded)
        n = int(torch.randint(0, L // 2, ()).item())
        if n:
            mask[b, L - n:] = 0
    photometry = photometry * mask.unsqueeze(-1)
    spectra = torch.randn(B, cfg.spec_in, cfg.spec_len)
    metadata = torch.randn(B, cfg.meta_in)
    photometry, mask = photometry.to(dev), mask.to(dev)
    spectra, metadata = spectra.to(dev), metadata.to(dev)

    # Created after the move: its state (moments) lives with the parameters.
    opt = torch.optim.Adam(model.parameters(), lr=3.92e-3, betas=(0.926, 0.999),
                           weight_decay=4.67e-3)

    # bf16: torch.autocast on CUDA. Otherwise no autocast context at all: a CPU
    # build of torch (Debian's) checks CUDA's bf16 support even for enabled=False.
    def amp():
        return torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def step():
        opt.zero_grad(set_to_none=True)
        with amp():
            out = model(photometry, mask, spectra, metadata)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 45.0)
        opt.step()
        return out["loss"].item()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        step()
    times, losses = [], []
    for _ in range(args.steps):
        sync()
        t0 = time.perf_counter()
        losses.append(step())
        sync()
        times.append(time.perf_counter() - t0)

    med = statistics.median(times)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    peak_gpu_mib = torch.cuda.max_memory_allocated() / 1048576.0 if cuda else None
    res = {
        "impl": "pytorch",
        "torch_version": torch.__version__,
        "device": args.device,
        "gpu_name": torch.cuda.get_device_name() if cuda else None,
        "tf32": bool(args.tf32) if cuda else None,
        "precision": precision,
        "peak_gpu_mib": peak_gpu_mib,
        "threads": args.threads,
        "batch": B,
        "step_seconds": times,
        "median_step_s": med,
        "samples_per_s": B / med,
        "peak_rss_mib": peak_rss_mib,
    }
    print("pytorch %s on %s (%s), %d threads, batch %d, %d warm-up + %d timed steps"
          % (torch.__version__, res["gpu_name"] or "cpu", precision, args.threads, B,
             args.warmup, args.steps))
    print("median step %.4f s  (min %.4f, max %.4f)" % (med, min(times), max(times)))
    print("samples/s %.2f" % (B / med))
    print("peak RSS %.1f MiB" % peak_rss_mib)
    if cuda:
        print("peak GPU memory (max_memory_allocated) %.1f MiB" % peak_gpu_mib)
    print("loss first %.4f last %.4f" % (losses[0], losses[-1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
