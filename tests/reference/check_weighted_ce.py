#!/usr/bin/python3
"""The class-weighted, class-masked cross-entropy of src/train/cls_step.c, written
as tests/test_mpi_cls_step.c's reference writes it by hand, against PyTorch
(Debian python3-torch): nn.functional.cross_entropy(logits_masked, y, weight=w)
with the dead classes' logits at -inf, its value and its gradient w.r.t. the
logits. Asserts; exits non-zero on a mismatch. Run: /usr/bin/python3 tests/reference/check_weighted_ce.py
"""
import sys

import numpy as np

try:
    import torch
except ImportError:
    print("SKIP: python3-torch not installed")
    sys.exit(77)

rng = np.random.default_rng(7)
N, C, dead = 12, 6, 1
counts = np.array([5 + (c * 7) % 11 if c != dead else 0 for c in range(C)], dtype=np.float64)
live = counts > 0
w = np.where(live, counts.sum() / (live.sum() * np.maximum(counts, 1)), 0.0)
logits = rng.normal(size=(N, C))
y = rng.integers(0, C, size=N)
y[y == dead] = 0
valid = np.arange(N) % 5 != 4

# PyTorch
lt = torch.tensor(logits, requires_grad=True)
masked = lt.masked_fill(torch.tensor(~live)[None, :], float("-inf"))
vt = torch.tensor(valid)
loss_t = torch.nn.functional.cross_entropy(masked[vt], torch.tensor(y)[vt], weight=torch.tensor(w))
loss_t.backward()
g_t = lt.grad.numpy()

# The C formula: softmax, renormalised over the live classes; loss sum w_y CE / sum w_y;
# dlogits = w_y (p' - onehot) / sum w_y for live classes, 0 for dead ones and padding.
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
p = np.where(live, p, 0.0)
p /= p.sum(1, keepdims=True)
wsum = w[y[valid]].sum()
loss = -(w[y[valid]] * np.log(p[valid, y[valid]])).sum() / wsum
onehot = np.eye(C)[y]
g = np.where(valid[:, None] & live[None, :], w[y][:, None] * (p - onehot) / wsum, 0.0)

assert abs(loss - loss_t.item()) < 1e-12, (loss, loss_t.item())
assert np.abs(g - g_t).max() < 1e-12, np.abs(g - g_t).max()
print(f"weighted masked CE == PyTorch: loss {loss:.12f}, max |grad diff| {np.abs(g - g_t).max():.2e}")
