"""AstroM3 in PyTorch, written from ../shared/reference/astrom3.md.

This is the project's reference implementation for the C code: module attribute names
are chosen so that `AstroM3(AstroM3Config()).state_dict()` has exactly the tensor names
and shapes of astrom3_state_dict.txt, while every size is configurable so that small
fixtures can be produced.

Pieces:
  * Informer encoder (photometry): circular Conv1d token embedding + fixed sinusoidal
    position table, post-LN encoder layers with ProbSparse self-attention (factor c,
    no mask), final LayerNorm, dropout, multiply by the padding mask, flatten.
  * GalSpecNet (spectra): Conv1d+ReLU+MaxPool x3, Conv1d+ReLU, flatten, dropout.
  * Metadata MLP: Linear, ReLU, Dropout, Linear, ReLU, Dropout.
  * Linear projections to a shared space, L2 normalised (F.normalize).
  * Trimodal CLIP loss with three log-space logit scales used as clamp(exp(s), 1, 100).

ProbSparse key sampling can be injected: `model.set_probsparse_samples(idx)` with idx of
shape [n_layers, L_Q, U_part] (or None for torch.randint sampling as in Informer).
"""
import math
from dataclasses import dataclass, field, asdict
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------- config
@dataclass
class AstroM3Config:
    # photometry (Informer)
    seq_len: int = 200
    photo_in: int = 9
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    n_layers: int = 8
    factor: int = 1
    pe_max_len: int = 5000
    # spectra (GalSpecNet)
    spec_len: int = 2575
    spec_in: int = 3
    spec_channels: Sequence[int] = field(default_factory=lambda: (64, 64, 32, 32))
    spec_kernel: int = 3
    spec_pool: int = 4
    # metadata MLP
    meta_in: int = 34
    meta_hidden: int = 512
    # shared space
    proj_dim: int = 512
    # dropout probabilities (0 = off). p: Informer layers and its output; s: GalSpecNet
    # output; m: metadata MLP. p_embed: Informer's DataEmbedding dropout (fixed 0.1 in
    # the reference code, independent of p).
    p_dropout: float = 0.0
    s_dropout: float = 0.0
    m_dropout: float = 0.0
    p_embed_dropout: float = 0.0
    # initial value of the three logit scales (log space)
    logit_scale_init: float = math.log(100.0)
    # "astrom3": as the authors' code (Time-Series-Library Informer), ProbAttention
    # returns its context heads-first [B, H, L, D] and AttentionLayer views it as
    # [B, L, H*D] without transposing back; "standard": [B, L, H, D] -> [B, L, H*D].
    attention_layout: str = "astrom3"

    def spec_out_len(self) -> int:
        """Length after the GalSpecNet stack (pool after all but the last conv)."""
        n = self.spec_len
        k = self.spec_kernel
        for i in range(len(self.spec_channels)):
            n = n - k + 1
            if i < len(self.spec_channels) - 1:
                n = n // self.spec_pool
        return n

    def spec_features(self) -> int:
        return self.spec_channels[-1] * self.spec_out_len()

    def probsparse_u(self) -> int:
        """u = factor * ceil(ln L), capped at L (sample count and n_top; L_Q == L_K)."""
        return probsparse_u(self.factor, self.seq_len)

    def as_dict(self):
        d = asdict(self)
        d["spec_channels"] = list(self.spec_channels)
        return d


def probsparse_u(factor: int, L: int) -> int:
    return min(factor * int(math.ceil(math.log(L))), L)


# --------------------------------------------------------------------------- Informer
class TokenEmbedding(nn.Module):
    """Conv1d(c_in -> d_model, k=3, padding=1, circular, no bias) over time."""

    def __init__(self, c_in: int, d_model: int):
        super().__init__()
        self.tokenConv = nn.Conv1d(c_in, d_model, kernel_size=3, padding=1,
                                   padding_mode="circular", bias=False)

    def forward(self, x):  # x [B, L, c_in] -> [B, L, d_model]
        return self.tokenConv(x.permute(0, 2, 1)).transpose(1, 2)


def sinusoid_table(max_len: int, d_model: int) -> torch.Tensor:
    """Informer's fixed table: pe[p, 2i] = sin(p w_i), pe[p, 2i+1] = cos(p w_i)."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float32)
    position = torch.arange(0, max_len, dtype=torch.float32).unsqueeze(1)
    div_term = (torch.arange(0, d_model, 2, dtype=torch.float32)
                * -(math.log(10000.0) / d_model)).exp()
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class PositionalEmbedding(nn.Module):
    def __init__(self, d_model: int, max_len: int = 5000):
        super().__init__()
        self.register_buffer("pe", sinusoid_table(max_len, d_model).unsqueeze(0))

    def forward(self, x):  # -> [1, L, d_model]
        return self.pe[:, : x.size(1)]


class DataEmbedding(nn.Module):
    def __init__(self, c_in: int, d_model: int, dropout: float, max_len: int = 5000):
        super().__init__()
        self.value_embedding = TokenEmbedding(c_in, d_model)
        self.position_embedding = PositionalEmbedding(d_model, max_len)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.value_embedding(x) + self.position_embedding(x))


class ProbAttention(nn.Module):
    """Informer ProbSparse self-attention without mask (mask_flag=False).

    For queries/keys/values [B, L, H, D]:
      U_part = min(c*ceil(ln L_K), L_K) sampled keys per query (index_sample
      [L_Q, U_part], shared over batch and heads), u = min(c*ceil(ln L_Q), L_Q) top
      queries; M = max_j(q.k_s) - sum_j(q.k_s) / L_K (unscaled); the u queries with the
      largest M get softmax(q K^T / sqrt(D)) V, every other query gets mean(V) over L_K.
    Attention dropout exists in Informer's constructor but is never applied.
    """

    def __init__(self, mask_flag: bool = False, factor: int = 5, scale=None,
                 attention_dropout: float = 0.1, heads_first: bool = True):
        super().__init__()
        self.heads_first = heads_first
        assert not mask_flag, "only the unmasked encoder variant is used by AstroM3"
        self.mask_flag = mask_flag
        self.factor = factor
        self.scale = scale
        self.attention_dropout = attention_dropout  # unused, as in Informer
        # Injection hook: LongTensor [L_Q, U_part] or None (torch.randint).
        self.index_sample: Optional[torch.Tensor] = None
        # Diagnostics from the last forward (detached).
        self.last_M: Optional[torch.Tensor] = None
        self.last_top: Optional[torch.Tensor] = None
        self.last_index_sample: Optional[torch.Tensor] = None

    def _prob_QK(self, Q, K, sample_k, n_top):
        # Q [B, H, L_Q, D], K [B, H, L_K, D]
        B, H, L_K, D = K.shape
        L_Q = Q.shape[2]
        if self.index_sample is not None:
            index_sample = self.index_sample.to(device=Q.device, dtype=torch.long)
            assert tuple(index_sample.shape) == (L_Q, sample_k), (index_sample.shape, L_Q, sample_k)
        else:
            index_sample = torch.randint(L_K, (L_Q, sample_k), device=Q.device)
        with torch.no_grad():
            K_sample = K[:, :, index_sample, :]                    # [B, H, L_Q, U, D]
            Q_K_sample = torch.matmul(Q.unsqueeze(-2), K_sample.transpose(-2, -1)).squeeze(-2)
            M = Q_K_sample.max(-1)[0] - Q_K_sample.sum(-1) / L_K   # [B, H, L_Q]
            M_top = M.topk(n_top, sorted=False)[1]                 # [B, H, n_top]
        Q_reduce = torch.gather(Q, 2, M_top.unsqueeze(-1).expand(B, H, n_top, D))
        Q_K = torch.matmul(Q_reduce, K.transpose(-2, -1))           # [B, H, n_top, L_K]
        self.last_M = M.detach()
        self.last_top = M_top.detach()
        self.last_index_sample = index_sample.detach()
        return Q_K, M_top

    def forward(self, queries, keys, values):
        B, L_Q, H, D = queries.shape
        L_K = keys.shape[1]
        Q = queries.transpose(2, 1)
        K = keys.transpose(2, 1)
        V = values.transpose(2, 1)

        U_part = probsparse_u(self.factor, L_K)
        u = probsparse_u(self.factor, L_Q)
        scores_top, index = self._prob_QK(Q, K, sample_k=U_part, n_top=u)
        scale = self.scale or 1.0 / math.sqrt(D)
        scores_top = scores_top * scale

        # initial context: mean of V for every query
        context = V.mean(dim=-2, keepdim=True).expand(B, H, L_Q, D)
        attn = torch.softmax(scores_top, dim=-1)
        top_ctx = torch.matmul(attn, V)                              # [B, H, u, D]
        context = context.scatter(2, index.unsqueeze(-1).expand(B, H, u, D), top_ctx)
        if self.heads_first:  # the authors' code: [B, H, L_Q, D], not transposed back
            return context.contiguous()
        return context.transpose(2, 1).contiguous()                  # [B, L_Q, H, D]


class AttentionLayer(nn.Module):
    def __init__(self, attention: nn.Module, d_model: int, n_heads: int):
        super().__init__()
        d_keys = d_model // n_heads
        self.inner_attention = attention
        self.query_projection = nn.Linear(d_model, d_keys * n_heads)
        self.key_projection = nn.Linear(d_model, d_keys * n_heads)
        self.value_projection = nn.Linear(d_model, d_keys * n_heads)
        self.out_projection = nn.Linear(d_keys * n_heads, d_model)
        self.n_heads = n_heads

    def forward(self, queries, keys, values):
        B, L, _ = queries.shape
        S = keys.shape[1]
        H = self.n_heads
        q = self.query_projection(queries).view(B, L, H, -1)
        k = self.key_projection(keys).view(B, S, H, -1)
        v = self.value_projection(values).view(B, S, H, -1)
        # a view, not a transpose: with the authors' heads-first context, row j of
        # sample b holds H consecutive (head, position) chunks starting at j*H
        out = self.inner_attention(q, k, v).view(B, L, -1)
        return self.out_projection(out)


class EncoderLayer(nn.Module):
    """Post-LN: x = LN1(x + drop(Attn(x))); y = drop(conv2(drop(gelu(conv1(x)))));
    out = LN2(x + y)."""

    def __init__(self, attention: nn.Module, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.attention = attention
        self.conv1 = nn.Conv1d(d_model, d_ff, kernel_size=1)
        self.conv2 = nn.Conv1d(d_ff, d_model, kernel_size=1)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.dropout(self.attention(x, x, x))
        y = x = self.norm1(x)
        y = self.dropout(F.gelu(self.conv1(y.transpose(-1, 1))))
        y = self.dropout(self.conv2(y).transpose(-1, 1))
        return self.norm2(x + y)


class Encoder(nn.Module):
    def __init__(self, attn_layers, norm_layer: nn.Module):
        super().__init__()
        self.attn_layers = nn.ModuleList(attn_layers)
        self.norm = norm_layer

    def forward(self, x):
        for layer in self.attn_layers:
            x = layer(x)
        return self.norm(x)


class Informer(nn.Module):
    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        self.enc_embedding = DataEmbedding(cfg.photo_in, cfg.d_model, cfg.p_embed_dropout,
                                           cfg.pe_max_len)
        layers = [
            EncoderLayer(
                AttentionLayer(ProbAttention(False, cfg.factor, attention_dropout=cfg.p_dropout,
                                             heads_first=cfg.attention_layout == "astrom3"),
                               cfg.d_model, cfg.n_heads),
                cfg.d_model, cfg.d_ff, cfg.p_dropout)
            for _ in range(cfg.n_layers)
        ]
        self.encoder = Encoder(layers, nn.LayerNorm(cfg.d_model))
        self.dropout = nn.Dropout(cfg.p_dropout)

    def prob_attentions(self):
        return [layer.attention.inner_attention for layer in self.encoder.attn_layers]

    def forward(self, x, mask):  # x [B, L, c_in], mask [B, L] -> [B, L*d_model]
        h = self.encoder(self.enc_embedding(x))
        h = self.dropout(h) * mask.unsqueeze(-1)
        return h.reshape(h.shape[0], -1)


# --------------------------------------------------------------------------- GalSpecNet
class GalSpecNet(nn.Module):
    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        chans = [cfg.spec_in] + list(cfg.spec_channels)
        layers = []
        for i in range(len(chans) - 1):
            layers.append(nn.Conv1d(chans[i], chans[i + 1], kernel_size=cfg.spec_kernel))
            layers.append(nn.ReLU())
            if i < len(chans) - 2:
                layers.append(nn.MaxPool1d(kernel_size=cfg.spec_pool))
        self.layers = nn.ModuleList(layers)   # conv indices 0, 3, 6, 9
        self.dropout = nn.Dropout(cfg.s_dropout)

    def forward(self, x):  # [B, spec_in, S] -> [B, C_last * L_last]
        for layer in self.layers:
            x = layer(x)
        return self.dropout(x.reshape(x.shape[0], -1))


# --------------------------------------------------------------------------- metadata MLP
class MetaModel(nn.Module):
    def __init__(self, cfg: AstroM3Config):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(cfg.meta_in, cfg.meta_hidden), nn.ReLU(), nn.Dropout(cfg.m_dropout),
            nn.Linear(cfg.meta_hidden, cfg.meta_hidden), nn.ReLU(), nn.Dropout(cfg.m_dropout),
        )

    def forward(self, x):
        return self.model(x)


# --------------------------------------------------------------------------- loss
def clip_pair_loss(a, b, scale):
    """CE(scale * a b^T, arange) + CE((scale * a b^T)^T, arange), each a batch mean."""
    logits = scale * a @ b.T
    labels = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels), logits


# --------------------------------------------------------------------------- AstroM3
class AstroM3(nn.Module):
    def __init__(self, cfg: Optional[AstroM3Config] = None):
        super().__init__()
        cfg = cfg or AstroM3Config()
        self.cfg = cfg
        # direct parameters first: state_dict order puts them before any submodule
        init = torch.tensor(cfg.logit_scale_init, dtype=torch.float32)
        self.logit_scale_ps = nn.Parameter(init.clone())
        self.logit_scale_sm = nn.Parameter(init.clone())
        self.logit_scale_mp = nn.Parameter(init.clone())
        self.photometry_encoder = Informer(cfg)
        self.spectra_encoder = GalSpecNet(cfg)
        self.metadata_encoder = MetaModel(cfg)
        self.photometry_proj = nn.Linear(cfg.seq_len * cfg.d_model, cfg.proj_dim)
        self.spectra_proj = nn.Linear(cfg.spec_features(), cfg.proj_dim)
        self.metadata_proj = nn.Linear(cfg.meta_hidden, cfg.proj_dim)

    # ProbSparse sample injection ------------------------------------------------
    def set_probsparse_samples(self, idx):
        """idx: [n_layers, L_Q, U_part] integer array/tensor, or None for randint."""
        atts = self.photometry_encoder.prob_attentions()
        if idx is None:
            for a in atts:
                a.index_sample = None
            return
        idx = torch.as_tensor(idx).long()
        assert idx.shape[0] == len(atts), (idx.shape, len(atts))
        for a, s in zip(atts, idx):
            a.index_sample = s.clone()

    def logit_scales(self):
        return tuple(torch.clamp(s.exp(), min=1, max=100)
                     for s in (self.logit_scale_ps, self.logit_scale_sm, self.logit_scale_mp))

    def forward(self, photometry, photometry_mask, spectra, metadata):
        p_enc = self.photometry_encoder(photometry, photometry_mask)
        s_enc = self.spectra_encoder(spectra)
        m_enc = self.metadata_encoder(metadata)
        p_emb = F.normalize(self.photometry_proj(p_enc), dim=-1)
        s_emb = F.normalize(self.spectra_proj(s_enc), dim=-1)
        m_emb = F.normalize(self.metadata_proj(m_enc), dim=-1)
        s_ps, s_sm, s_mp = self.logit_scales()
        loss_ps, logits_ps = clip_pair_loss(p_emb, s_emb, s_ps)
        loss_sm, logits_sm = clip_pair_loss(s_emb, m_emb, s_sm)
        loss_mp, logits_mp = clip_pair_loss(m_emb, p_emb, s_mp)
        return {
            "photometry_encoder": p_enc,
            "spectra_encoder": s_enc,
            "metadata_encoder": m_enc,
            "photometry_emb": p_emb,
            "spectra_emb": s_emb,
            "metadata_emb": m_emb,
            "logits_ps": logits_ps,
            "logits_sm": logits_sm,
            "logits_mp": logits_mp,
            "loss_ps": loss_ps,
            "loss_sm": loss_sm,
            "loss_mp": loss_mp,
            "loss": loss_ps + loss_sm + loss_mp,
        }


def trainable_names(model: nn.Module):
    """Trainable tensor names in state-dict order (buffers such as pe excluded)."""
    params = dict(model.named_parameters())
    return [k for k in model.state_dict().keys() if k in params]
