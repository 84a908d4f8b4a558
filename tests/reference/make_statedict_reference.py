"""Write the state_dict interchange fixture: a checkpoint as the AstroM3 authors' code
would save it, and the embeddings their model gives.

    /usr/bin/python3 tests/reference/make_statedict_reference.py [--out DIR]

The tiny AstroM3 of astrom3_ref.py (the authors' heads-first attention layout) with
PyTorch's own random initialisation (seeded), in eval mode. model.factor is large enough
that u = L: every query is selected, so the attention is exact full attention and the
random ProbSparse key sample (torch.randint in the authors' code) does not matter: the
test checks the weights' names and layout, not our sampler. Row 1 of the batch is a
padded light curve. Writes
  fixtures/astrom3_statedict_small.safetensors     the state_dict (every tensor, the pe
                                                   buffer included), as a checkpoint
  fixtures/astrom3_statedict_small_io.safetensors  inputs and the three embeddings
tests/test_reference.c loads the first with params_load and compares the embeddings.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import astrom3_ref as ref  # noqa: E402
import safetensors_np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(7)
    L = 24
    factor = 6  # u = 6 * ceil(ln 24) = 24 = L
    cfg = ref.AstroM3Config(seq_len=L, photo_in=9, d_model=16, n_heads=2, d_ff=32, n_layers=2,
                            factor=factor, spec_len=300, spec_in=3, spec_channels=(4, 4, 4, 4),
                            spec_pool=4, meta_in=34, meta_hidden=16, proj_dim=8,
                            attention_layout="astrom3")
    assert ref.probsparse_u(factor, L) == L
    model = ref.AstroM3(cfg).eval()
    B = 3
    g = torch.Generator().manual_seed(11)
    x = torch.randn(B, L, cfg.photo_in, generator=g)
    mask = torch.ones(B, L)
    mask[1, L - 7:] = 0.0  # a padded light curve
    x = x * mask.unsqueeze(-1)
    spectra = torch.randn(B, cfg.spec_in, cfg.spec_len, generator=g)
    metadata = torch.randn(B, cfg.meta_in, generator=g)
    with torch.no_grad():
        out = model(x, mask, spectra, metadata)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    meta = {"format": "pytorch-state-dict", "seq_len": L, "photo_in": cfg.photo_in, "d_model": cfg.d_model,
            "n_heads": cfg.n_heads, "d_ff": cfg.d_ff, "n_layers": cfg.n_layers, "factor": factor,
            "pe_max_len": cfg.pe_max_len, "spec_len": cfg.spec_len, "spec_in": cfg.spec_in,
            "spec_channels": ",".join(str(c) for c in cfg.spec_channels), "spec_pool": cfg.spec_pool,
            "meta_in": cfg.meta_in, "meta_hidden": cfg.meta_hidden, "proj_dim": cfg.proj_dim,
            "batch": B, "attention_layout": cfg.attention_layout}
    os.makedirs(args.out, exist_ok=True)
    safetensors_np.save(os.path.join(args.out, "astrom3_statedict_small.safetensors"), sd,
                        {"attention_layout": cfg.attention_layout})
    io = {"input.photometry": x.numpy(), "input.photometry_mask": mask.numpy(),
          "input.spectra": spectra.numpy(), "input.metadata": metadata.numpy()}
    for k in ("photometry_emb", "spectra_emb", "metadata_emb"):
        io["output." + k] = out[k].numpy()
    safetensors_np.save(os.path.join(args.out, "astrom3_statedict_small_io.safetensors"),
                        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in io.items()},
                        {k: str(v) for k, v in meta.items()})
    print("state_dict: %d tensors; embeddings of %d objects (row 1 padded) written" % (len(sd), B))


if __name__ == "__main__":
    main()
