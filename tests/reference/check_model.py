"""Self-checks of astrom3_ref.py (run: /usr/bin/python3 tests/reference/check_model.py).

1. At full size, state_dict names/shapes equal ../shared/reference/astrom3_state_dict.txt
   (relative to the repository root; skipped with a message when absent), in order, and
   the total element count is 16509827.
2. ProbSparse attention with injected key samples equals an independent naive loop
   implementation of the definition in astrom3.md (forward and input gradients).
3. The sinusoidal table matches the closed form; circular token conv matches a manual
   wrap-around convolution; spectra feature size at full size is 1184.
"""
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import astrom3_ref as ref  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
STATE_DICT_TXT = os.path.join(REPO, "..", "shared", "reference", "astrom3_state_dict.txt")
EXPECTED_TOTAL = 16509827


def parse_state_dict_txt(path):
    entries, total = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("total "):
                total = int(line.split()[1])
                continue
            name, shape = line.split(" ", 1)
            shape = shape.strip().strip("()")
            dims = tuple(int(s) for s in shape.split(",") if s.strip())
            entries.append((name, dims))
    return entries, total


def check_state_dict():
    model = ref.AstroM3(ref.AstroM3Config())
    sd = model.state_dict()
    got = [(k, tuple(v.shape)) for k, v in sd.items()]
    total = sum(v.numel() for v in sd.values())
    assert total == EXPECTED_TOTAL, total
    n_train = sum(p.numel() for p in model.parameters())
    assert model.cfg.spec_features() == 1184
    print("state_dict: %d tensors, %d elements (%d trainable)" % (len(got), total, n_train))
    if not os.path.exists(STATE_DICT_TXT):
        print("SKIP: %s not found; names/shapes not compared" % STATE_DICT_TXT)
        return
    want, want_total = parse_state_dict_txt(STATE_DICT_TXT)
    assert want_total == EXPECTED_TOTAL, want_total
    if got != want:
        gs, ws = dict(got), dict(want)
        for k in ws:
            if k not in gs:
                print("missing:", k, ws[k])
            elif gs[k] != ws[k]:
                print("shape:", k, gs[k], "want", ws[k])
        for k in gs:
            if k not in ws:
                print("extra:", k, gs[k])
        raise AssertionError("state_dict differs from astrom3_state_dict.txt")
    print("state_dict names, order and shapes match %s" % os.path.relpath(STATE_DICT_TXT, REPO))


def naive_probsparse(q, k, v, sample_idx, factor):
    """Loop implementation of the definition. q, k, v [B, L, H, D]; sample_idx [L, U]."""
    B, L, H, D = q.shape
    u = min(factor * int(math.ceil(math.log(L))), L)
    U = sample_idx.shape[1]
    assert U == u
    out_rows = {}
    tops = {}
    for b in range(B):
        for h in range(H):
            M = []
            for i in range(L):
                dots = [float((q[b, i, h] * k[b, int(sample_idx[i, j]), h]).sum()) for j in range(U)]
                M.append(max(dots) - sum(dots) / L)
            order = sorted(range(L), key=lambda i: (-M[i], i))
            top = set(order[:u])
            tops[(b, h)] = top
            vmean = v[:, :, h][b].mean(dim=0)
            for i in range(L):
                if i in top:
                    s = torch.stack([(q[b, i, h] * k[b, j, h]).sum() for j in range(L)]) / math.sqrt(D)
                    p = torch.softmax(s, dim=0)
                    out_rows[(b, i, h)] = (p.unsqueeze(1) * v[b, :, h]).sum(0)
                else:
                    out_rows[(b, i, h)] = vmean
    out = torch.stack([torch.stack([torch.stack([out_rows[(b, i, h)] for h in range(H)])
                                    for i in range(L)]) for b in range(B)])
    return out, tops


def check_probsparse():
    g = torch.Generator().manual_seed(7)
    for (B, L, H, D, factor) in [(2, 24, 2, 8, 1), (1, 30, 3, 4, 2), (2, 9, 1, 5, 3)]:
        u = ref.probsparse_u(factor, L)
        q = torch.randn(B, L, H, D, generator=g, dtype=torch.float64)
        k = torch.randn(B, L, H, D, generator=g, dtype=torch.float64)
        v = torch.randn(B, L, H, D, generator=g, dtype=torch.float64)
        idx = torch.from_numpy(np.random.default_rng(L).integers(0, L, size=(L, u)))
        att = ref.ProbAttention(False, factor)
        att.index_sample = idx
        qa, ka, va = (t.clone().requires_grad_() for t in (q, k, v))
        out = att(qa, ka, va)
        qn, kn, vn = (t.clone().requires_grad_() for t in (q, k, v))
        out_n, tops = naive_probsparse(qn, kn, vn, idx, factor)
        for b in range(B):
            for h in range(H):
                assert set(att.last_top[b, h].tolist()) == tops[(b, h)]
        assert out.shape == out_n.shape
        err = (out - out_n).abs().max().item()
        assert err < 1e-12, err
        w = torch.randn(out.shape, generator=g, dtype=torch.float64)
        (out * w).sum().backward()
        (out_n * w).sum().backward()
        gerr = max((a.grad - b.grad).abs().max().item() for a, b in ((qa, qn), (ka, kn), (va, vn)))
        assert gerr < 1e-12, gerr
        print("probsparse B=%d L=%d H=%d D=%d factor=%d u=%d: |fwd| %.1e |grad| %.1e vs naive loop"
              % (B, L, H, D, factor, u, err, gerr))


def check_embedding():
    pe = ref.sinusoid_table(50, 6).double()
    for p in range(50):
        for i in range(3):
            w = math.exp(2 * i * -(math.log(10000.0) / 6))
            assert abs(pe[p, 2 * i] - math.sin(p * w)) < 1e-4
            assert abs(pe[p, 2 * i + 1] - math.cos(p * w)) < 1e-4
    te = ref.TokenEmbedding(3, 5).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    y = te(x)
    W = te.tokenConv.weight  # [5, 3, 3]
    L = x.shape[1]
    for t in range(L):
        acc = sum(x[:, (t + j - 1) % L, :] @ W[:, :, j].T for j in range(3))
        assert torch.allclose(y[:, t], acc, atol=1e-12)
    print("sinusoid table and circular token conv match their definitions")


def main():
    check_state_dict()
    check_probsparse()
    check_embedding()
    print("check_model.py: all checks passed")


if __name__ == "__main__":
    main()
