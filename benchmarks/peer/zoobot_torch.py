#!/usr/bin/env python3
"""PyTorch peer of build/benchmarks/bench_zoobot_step: the same Zoobot training
step on the same model configuration, in the way Zoobot builds it:
torchvision's ConvNeXt (the stem swapped for a 1-channel conv, as Zoobot's
greyscale encoders), dropout before Linear(34), sigmoid * 100 + 1, Zoobot's
Dirichlet-multinomial loss (torch.lgamma, questions summed, batch mean),
clip_grad_norm_, AdamW. Generated greyscale images and votes, CPU, N threads.

usage: zoobot_torch.py [--config configs/zoobot_small.cfg] [--batch 64] [--threads 2]
                       [--warmup 2] [--steps 10] [--json PATH]
"""
import argparse
import json
import re
import resource
import statistics
import time

import torch
import torch.nn as nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

SCHEMA = [3, 2, 2, 3, 5, 3, 3, 3, 6, 4]  # GZ DECaLS answers per question


def read_cfg(path):
    """The few keys the benchmark needs from a libconfig file (flat regexes)."""
    text = open(path).read()
    def val(key, default):
        m = re.search(r"\b" + key + r"\s*=\s*([^;]+);", text)
        return m.group(1).strip() if m else default
    ints = lambda s: [int(x) for x in s.strip("[] ").split(",")]
    return dict(size=int(val("image_size", "224")), chans=int(val("image_channels", "1")),
                depths=ints(val("convnext_depths", "[2, 2, 8, 2]")), dims=ints(val("convnext_dims", "[80, 160, 320, 640]")),
                p_head=float(val("dropout_head", "0.2")), lr=float(val("lr", "1e-3")),
                wd=float(val("weight_decay", "0.01")), clip=float(val("clip_norm", "0.3")))


class Zoobot(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dims"]
        setting = [CNBlockConfig(d[i], d[i + 1] if i < 3 else None, c["depths"][i]) for i in range(4)]
        self.encoder = ConvNeXt(setting, stochastic_depth_prob=0.0, layer_scale=1e-6, num_classes=34)
        self.encoder.features[0][0] = nn.Conv2d(c["chans"], d[0], kernel_size=4, stride=4)
        self.encoder.classifier.insert(2, nn.Dropout(c["p_head"]))

    def forward(self, x):
        return torch.sigmoid(self.encoder(x)) * 100 + 1


def dirichlet_loss(alpha, counts):
    total, col = 0, 0
    for n in SCHEMA:
        a, k = alpha[:, col:col + n], counts[:, col:col + n]
        N, a0 = k.sum(1), a.sum(1)
        logp = (torch.lgamma(N + 1) - torch.lgamma(k + 1).sum(1) + torch.lgamma(a0) - torch.lgamma(N + a0)
                + (torch.lgamma(k + a) - torch.lgamma(a)).sum(1))
        total = total - logp
        col += n
    return total.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/zoobot_small.cfg")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = read_cfg(a.config)
    model = Zoobot(c).train()
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"])
    x = torch.rand(a.batch, c["chans"], c["size"], c["size"])
    votes = torch.randint(0, 40, (a.batch, 34)).float()
    times, last = [], 0.0
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = dirichlet_loss(model(x), votes)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()
        dt = time.perf_counter() - t0
        last = float(loss)
        if s >= a.warmup:
            times.append(dt)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n_params = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__}: {a.config}, {n_params} parameters, batch {a.batch}, {a.threads} threads, "
          f"median step {med:.4f} s, {a.batch / med:.1f} images/s, peak RSS {rss:.0f} MiB, last loss {last:.4f}")
    if a.json:
        json.dump(dict(impl="pytorch", torch_version=torch.__version__, threads=a.threads, batch=a.batch, params=n_params,
                       step_seconds=times, median_step_s=med, images_per_s=a.batch / med, peak_rss_mib=rss,
                       last_loss=last), open(a.json, "w"))


if __name__ == "__main__":
    main()
