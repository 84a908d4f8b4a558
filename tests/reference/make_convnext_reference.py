#!/usr/bin/env python3
"""PyTorch reference for the Zoobot model (tests/test_convnext_reference.c).

Builds torchvision's ConvNeXt (torchvision.models.convnext.ConvNeXt, the class
behind convnext_tiny & co.) at a small size with one input channel, as Zoobot
trains it from scratch: the stem conv swapped for a 1-channel one (torchvision
hard-codes 3), classifier = LayerNorm2d -> Flatten -> Linear(34), then Zoobot's
head activation 1 + 100 sigmoid and its Dirichlet-multinomial loss over the GZ
DECaLS schema, written as zoobot's `dirichlet_loss` (torch.lgamma), in float64
over float32 concentrations. One forward + backward; writes

  fixtures/convnext_small.safetensors
    param.<name>   every parameter under its torchvision name (random values:
                   layer scales ~0.5 so every branch matters)
    input.images   [B, H, W, 1]  (channels-last, as astromm stores images)
    input.counts   [B, 34]       vote counts (sample 1 was never asked some questions)
    output.features [B, C3]      pooled + normalised features (the representation)
    output.alpha   [B, 34]       concentrations
    output.nll     [B]           per-sample loss (sum over questions)
    grad.<name>    gradient of mean_b nll[b]
  fixtures/convnext_small_timm.safetensors
    the same weights as a timm convnext state dict (conv_mlp=True layout, as
    timm's convnext_nano: stem.*, stages.{s}.downsample.*, blocks.{j}.conv_dw,
    norm, mlp.fc1/fc2 as 1x1 convs [o, i, 1, 1], gamma [C], head.norm, head.fc),
    written from the mapping in timm's convnext.py (checkpoint_filter_fn).

Run: /usr/bin/python3 tests/reference/make_convnext_reference.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
DEPTHS = (1, 1, 2, 1)
DIMS = (8, 16, 24, 32)
SIZE = 32
B = 3
SCHEMA = [3, 2, 2, 3, 5, 3, 3, 3, 6, 4]  # GZ DECaLS answers per question


def build():
    torch.manual_seed(7)
    cfg = [CNBlockConfig(DIMS[i], DIMS[i + 1] if i + 1 < 4 else None, DEPTHS[i]) for i in range(4)]
    model = ConvNeXt(cfg, stochastic_depth_prob=0.0, layer_scale=1e-6, num_classes=34)
    model.features[0][0] = nn.Conv2d(1, DIMS[0], kernel_size=4, stride=4)
    g = torch.Generator().manual_seed(11)
    norms = {n + "." + t for n, m in model.named_modules() if isinstance(m, nn.LayerNorm) for t in ("weight", "bias")}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(0.5 + 0.3 * (torch.rand(p.shape, generator=g) * 2 - 1))
            elif name in norms:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.ndim > 1 else 4
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))
    return model


def dirichlet_nll(alpha, counts):
    """Zoobot's dirichlet_loss per question, summed: -log DirMult(counts | alpha)."""
    a = alpha.double()
    k = counts.double()
    total = torch.zeros(a.shape[0], dtype=torch.float64)
    col = 0
    for n in SCHEMA:
        ak, kk = a[:, col:col + n], k[:, col:col + n]
        N = kk.sum(1)
        a0 = ak.sum(1)
        logp = (torch.lgamma(N + 1) - torch.lgamma(kk + 1).sum(1) + torch.lgamma(a0) - torch.lgamma(N + a0)
                + (torch.lgamma(kk + ak) - torch.lgamma(ak)).sum(1))
        total = total - logp
        col += n
    return total


def make_counts():
    g = torch.Generator().manual_seed(5)
    c = torch.zeros(B, 34)
    col = 0
    for qi, n in enumerate(SCHEMA):
        for b in range(B):
            asked = not (b == 1 and qi >= 2)  # sample 1: only the first two questions
            if asked:
                total = int(torch.randint(3, 60, (1,), generator=g))
                p = torch.rand(n, generator=g) + 0.1
                c[b, col:col + n] = torch.distributions.Multinomial(total, probs=p / p.sum()).sample()
        col += n
    return c


def timm_state(model):
    """The same weights under timm's convnext (conv_mlp=True) names and shapes."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {}
    out["stem.0.weight"], out["stem.0.bias"] = sd["features.0.0.weight"], sd["features.0.0.bias"]
    out["stem.1.weight"], out["stem.1.bias"] = sd["features.0.1.weight"], sd["features.0.1.bias"]
    for s in range(4):
        if s > 0:
            for i in (0, 1):
                for t in ("weight", "bias"):
                    out[f"stages.{s}.downsample.{i}.{t}"] = sd[f"features.{2 * s}.{i}.{t}"]
        for j in range(DEPTHS[s]):
            tv, tm = f"features.{2 * s + 1}.{j}", f"stages.{s}.blocks.{j}"
            C = DIMS[s]
            out[f"{tm}.gamma"] = sd[f"{tv}.layer_scale"].reshape(C)
            out[f"{tm}.conv_dw.weight"], out[f"{tm}.conv_dw.bias"] = sd[f"{tv}.block.0.weight"], sd[f"{tv}.block.0.bias"]
            out[f"{tm}.norm.weight"], out[f"{tm}.norm.bias"] = sd[f"{tv}.block.2.weight"], sd[f"{tv}.block.2.bias"]
            out[f"{tm}.mlp.fc1.weight"] = sd[f"{tv}.block.3.weight"].reshape(4 * C, C, 1, 1)
            out[f"{tm}.mlp.fc1.bias"] = sd[f"{tv}.block.3.bias"]
            out[f"{tm}.mlp.fc2.weight"] = sd[f"{tv}.block.5.weight"].reshape(C, 4 * C, 1, 1)
            out[f"{tm}.mlp.fc2.bias"] = sd[f"{tv}.block.5.bias"]
    out["head.norm.weight"], out["head.norm.bias"] = sd["classifier.0.weight"], sd["classifier.0.bias"]
    out["head.fc.weight"], out["head.fc.bias"] = sd["classifier.2.weight"], sd["classifier.2.bias"]
    return {k: v.numpy().astype(np.float32) for k, v in out.items()}


def main():
    model = build()
    model.train()  # no dropout in torchvision's ConvNeXt; stochastic depth is 0
    g = torch.Generator().manual_seed(3)
    images = torch.rand(B, 1, SIZE, SIZE, generator=g)
    counts = make_counts()
    x = model.features(images)
    pooled = model.avgpool(x)
    feat = model.classifier[1](model.classifier[0](pooled))
    logits = model.classifier[2](feat)
    alpha = torch.sigmoid(logits) * 100 + 1
    nll = dirichlet_nll(alpha, counts)
    loss = nll.mean()
    loss.backward()

    t = {}
    meta = {"batch": str(B), "image_size": str(SIZE), "in_chans": "1", "depths": ",".join(map(str, DEPTHS)),
            "dims": ",".join(map(str, DIMS)), "answers": "34", "param_names": ",".join(n for n, _ in model.named_parameters())}
    for name, p in model.named_parameters():
        t["param." + name] = p.detach().numpy().astype(np.float32)
        t["grad." + name] = p.grad.numpy().astype(np.float32)
    t["input.images"] = images.permute(0, 2, 3, 1).contiguous().numpy()
    t["input.counts"] = counts.numpy()
    t["output.features"] = feat.detach().numpy()
    t["output.alpha"] = alpha.detach().numpy()
    t["output.nll"] = nll.detach().float().numpy()
    os.makedirs(OUT, exist_ok=True)
    safetensors_np.save(os.path.join(OUT, "convnext_small.safetensors"), t, meta)
    safetensors_np.save(os.path.join(OUT, "convnext_small_timm.safetensors"), timm_state(model), {"format": "pt"})
    print("loss %.6f, features |.|max %.4f, wrote fixtures/convnext_small*.safetensors" % (loss.item(), feat.abs().max().item()))


if __name__ == "__main__":
    main()
