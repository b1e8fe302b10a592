#!/usr/bin/python3
"""PyTorch float64 reference of the TornadoViT Vision Transformer; writes test fixtures.

Run with Debian's system python (it has torch and numpy):

    /usr/bin/python3 scripts/make_fixtures.py [--out src/test/resources/fixtures]

For every case it writes <case>.json (the model/training config) and <case>.safetensors
(inputs, initial parameters and buffers, forward outputs, gradients, and parameters and
buffers after a few AdamW steps). Everything is float64 ("F64"). The script is deterministic.

Before writing anything it checks itself:
  * every forward (training and eval mode) against an independent, loop-based NumPy
    implementation (patch extraction by slicing, per-head attention, hand-written
    LayerNorm / BatchNorm / cross entropy with label smoothing, running-stat updates);
  * BatchNorm re-attention output has per-head mean 0 / variance 1 before its affine;
  * the 1x1 head-mixing against F.conv2d;
  * the 3 training steps against a hand-written clip + AdamW;
  * torch.autograd.gradcheck of the loss wrt images and every parameter on tiny models.

The safetensors writer is self-contained (no `safetensors` package).
"""

import argparse
import copy
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

LN_EPS = 1e-6          # every LayerNorm of the model (incl. q/k norm)
REATTN_NORM_EPS = 1e-5  # BatchNorm2d / LayerNorm after re-attention
BN_MOMENTUM = 0.1

NORM_MODULE_NAMES = {"norm1", "norm2", "norm", "q_norm", "k_norm", "reattn_norm"}


# ----------------------------------------------------------------------------- config

def make_config(**over):
    """Config with exactly the documented keys, in the documented order."""
    att = {"weights": "softmax", "activation": "relu", "alpha": 1.0,
           "qk_norm": False, "gate": False,
           "reattention": "none", "reattention_blocks": "all"}
    att.update(over.pop("attention", {}))
    opt = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
           "weight_decay": 0.05, "clip_norm": 0.5, "steps": 3}
    opt.update(over.pop("optimizer", {}))
    cfg = {"image_height": 8, "image_width": 8, "channels": 3, "patch_size": 4, "num_classes": 5,
           "width": 16, "depth": 2, "heads": 4, "mlp_dim": 32,
           "pool": "cls", "pos_embed": "learned",
           "attention": att,
           "label_smoothing": 0.0,
           "optimizer": opt}
    for k, v in over.items():
        if k not in cfg:
            raise KeyError(k)
        cfg[k] = v
    return cfg


def reattn_selected(cfg, i):
    """Whether block i uses re-attention ("all" or "last:K")."""
    a = cfg["attention"]
    if a["reattention"] == "none":
        return False
    sel = a["reattention_blocks"]
    if sel == "all":
        return True
    if sel.startswith("last:"):
        k = int(sel[5:])
        return i >= cfg["depth"] - k
    raise ValueError(sel)


def sincos2d_table(gh, gw, dim):
    """Fixed 2-D sin-cos table [gh*gw, dim] for the patch tokens (row-major grid order)."""
    assert dim % 4 == 0, "sincos2d needs width % 4 == 0"
    y, x = torch.meshgrid(torch.arange(gh, dtype=torch.float64),
                          torch.arange(gw, dtype=torch.float64), indexing="ij")
    q = dim // 4
    omega = 1.0 / (10000.0 ** (torch.arange(q, dtype=torch.float64) / (q - 1)))
    xo = x.flatten()[:, None] * omega[None, :]
    yo = y.flatten()[:, None] * omega[None, :]
    return torch.cat([torch.sin(xo), torch.cos(xo), torch.sin(yo), torch.cos(yo)], dim=1)


# ----------------------------------------------------------------------------- model

def pointwise_fn(name):
    return {
        "relu": F.relu,
        "relu2": lambda s: F.relu(s) ** 2,
        "gelu": lambda s: F.gelu(s),  # exact erf form (approximate='none')
        "softplus": lambda s: F.softplus(s),  # beta 1; torch switches to s above threshold 20
        "identity": lambda s: s,
        "relu6": lambda s: torch.clamp(s, 0.0, 6.0),
        "sigmoid": torch.sigmoid,
    }[name]


class PatchEmbed(nn.Module):
    def __init__(self, channels, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x):                       # [B,C,H,W] -> [B,N,D]
        return self.proj(x).flatten(2).transpose(1, 2)


class HeadMix(nn.Module):
    """1x1 convolution over the head axis: A'[b,g] = sum_h W[g,h] A[b,h] + b[g]."""

    def __init__(self, heads):
        super().__init__()
        self.weight = nn.Parameter(torch.eye(heads))
        self.bias = nn.Parameter(torch.zeros(heads))

    def forward(self, a):                       # [B,H,T,T]
        return torch.einsum("gh,bhij->bgij", self.weight, a) + self.bias[None, :, None, None]


class HeadBatchNorm(nn.Module):
    """BatchNorm2d over the head channel of [B,H,T,T]; buffers running_mean / running_var only."""

    def __init__(self, heads):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(heads))
        self.bias = nn.Parameter(torch.zeros(heads))
        self.register_buffer("running_mean", torch.zeros(heads))
        self.register_buffer("running_var", torch.ones(heads))

    def forward(self, a):
        # training: normalise with batch stats (biased var), update running stats with the
        # unbiased var and momentum 0.1; eval: normalise with the running stats.
        return F.batch_norm(a, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=BN_MOMENTUM, eps=REATTN_NORM_EPS)


class HeadLayerNorm(nn.Module):
    """LayerNorm over the head axis at every (b,i,j)."""

    def __init__(self, heads):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(heads))
        self.bias = nn.Parameter(torch.zeros(heads))

    def forward(self, a):
        h = a.shape[1]
        return F.layer_norm(a.permute(0, 2, 3, 1), (h,), self.weight, self.bias,
                            REATTN_NORM_EPS).permute(0, 3, 1, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads, acfg, reattn):
        super().__init__()
        assert dim % heads == 0
        self.heads, self.hd = heads, dim // heads
        self.acfg = acfg
        self.qkv = nn.Linear(dim, 3 * dim)
        self.qk_norm = acfg["qk_norm"]
        if self.qk_norm:
            self.q_norm = nn.LayerNorm(self.hd, eps=LN_EPS)
            self.k_norm = nn.LayerNorm(self.hd, eps=LN_EPS)
        self.use_reattn = reattn
        if reattn:
            self.reattn = HeadMix(heads)
            kind = acfg["reattention"]
            self.reattn_norm = HeadBatchNorm(heads) if kind == "batchnorm" else HeadLayerNorm(heads)
            assert kind in ("batchnorm", "layernorm")
        self.gated = acfg["gate"]
        if self.gated:
            self.gate = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.last_scores = None
        self.last_map = None

    def forward(self, x):                       # [B,T,D]
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]        # [B,H,T,hd]
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        if self.acfg["weights"] == "softmax":
            a = s.softmax(dim=-1)
        elif self.acfg["weights"] == "pointwise":
            a = (float(t) ** (-self.acfg["alpha"])) * pointwise_fn(self.acfg["activation"])(s)
        else:
            raise ValueError(self.acfg["weights"])
        if self.use_reattn:
            a = self.reattn_norm(self.reattn(a))
        self.last_scores = s.detach()
        self.last_map = a.detach()
        o = (a @ v).transpose(1, 2).reshape(b, t, d)
        if self.gated:
            o = o * torch.sigmoid(self.gate(x))
        return self.proj(o)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg, reattn):
        super().__init__()
        d = cfg["width"]
        self.norm1 = nn.LayerNorm(d, eps=LN_EPS)
        self.attn = Attention(d, cfg["heads"], cfg["attention"], reattn)
        self.norm2 = nn.LayerNorm(d, eps=LN_EPS)
        self.mlp = Mlp(d, cfg["mlp_dim"])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        p, d = cfg["patch_size"], cfg["width"]
        assert cfg["image_height"] % p == 0 and cfg["image_width"] % p == 0
        self.gh, self.gw = cfg["image_height"] // p, cfg["image_width"] // p
        n = self.gh * self.gw
        self.pool = cfg["pool"]
        assert self.pool in ("cls", "gap")
        t = n + 1 if self.pool == "cls" else n
        self.patch_embed = PatchEmbed(cfg["channels"], p, d)
        if self.pool == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_kind = cfg["pos_embed"]
        if self.pos_kind == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, t, d))
        elif self.pos_kind == "sincos2d":
            self.register_buffer("pos_table", sincos2d_table(self.gh, self.gw, d), persistent=False)
        else:
            raise ValueError(self.pos_kind)
        self.blocks = nn.ModuleList([Block(cfg, reattn_selected(cfg, i)) for i in range(cfg["depth"])])
        self.norm = nn.LayerNorm(d, eps=LN_EPS)
        self.head = nn.Linear(d, cfg["num_classes"])

    def forward(self, img):
        x = self.patch_embed(img)
        if self.pos_kind == "sincos2d":
            x = x + self.pos_table[None]
        if self.pool == "cls":
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_kind == "learned":
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        x = x[:, 0] if self.pool == "cls" else x.mean(dim=1)
        return self.head(x)

    def attn_maps(self):
        return [blk.attn.last_map for blk in self.blocks]


def loss_fn(cfg, logits, labels):
    return F.cross_entropy(logits, labels, label_smoothing=cfg["label_smoothing"])


def init_params(model, gen, q_scale=1.0):
    """N(0,0.3^2) everywhere; norm weights 1+N(0,0.1^2), norm biases N(0,0.1^2); head-mix W = I+N(0,0.3^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            parts = name.split(".")
            owner, leaf = (parts[-2] if len(parts) > 1 else ""), parts[-1]
            z = torch.randn(p.shape, generator=gen)
            if owner in NORM_MODULE_NAMES:
                p.copy_((1.0 + 0.1 * z) if leaf == "weight" else 0.1 * z)
            elif owner == "reattn" and leaf == "weight":
                p.copy_(torch.eye(p.shape[0]) + 0.3 * z)
            else:
                p.copy_(0.3 * z)
        if q_scale != 1.0:  # push scores out (relu6 saturation)
            d = model.cfg["width"]
            for blk in model.blocks:
                blk.attn.qkv.weight[:d].mul_(q_scale)
                blk.attn.qkv.bias[:d].mul_(q_scale)


def param_groups(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.dim() >= 2 and name not in ("cls_token", "pos_embed"):
            decay.append((name, p))
        else:
            no_decay.append((name, p))
    return decay, no_decay


def buffers_of(model):
    return {n: b for n, b in model.named_buffers() if n.endswith("running_mean") or n.endswith("running_var")}


# ----------------------------------------------------------------------------- independent NumPy reference

def _np_ln(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf)


def _np_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_act(name, s):
    if name == "relu":
        return np.maximum(s, 0.0)
    if name == "relu2":
        return np.maximum(s, 0.0) ** 2
    if name == "gelu":
        return _np_gelu(s)
    if name == "softplus":
        return np.log1p(np.exp(s))
    if name == "identity":
        return s.copy()
    if name == "relu6":
        return np.minimum(np.maximum(s, 0.0), 6.0)
    if name == "sigmoid":
        return _np_sigmoid(s)
    raise ValueError(name)


def np_reference(cfg, P, Bf, images, labels, training):
    """Loop-based forward. P, Bf: dicts name -> np.ndarray. Returns logits, loss, maps, new buffers."""
    Bf = {k: v.copy() for k, v in Bf.items()}
    B, C, H, W = images.shape
    p, D, nh = cfg["patch_size"], cfg["width"], cfg["heads"]
    hd = D // nh
    gh, gw = H // p, W // p
    N = gh * gw
    Wp = P["patch_embed.proj.weight"].reshape(D, C * p * p)
    tok = np.zeros((B, N, D))
    for b in range(B):
        for r in range(gh):
            for c in range(gw):
                patch = images[b, :, r * p:(r + 1) * p, c * p:(c + 1) * p].reshape(-1)
                tok[b, r * gw + c] = Wp @ patch + P["patch_embed.proj.bias"]
    if cfg["pos_embed"] == "sincos2d":
        q = D // 4
        pe = np.zeros((N, D))
        for r in range(gh):
            for c in range(gw):
                for j in range(q):
                    om = 10000.0 ** (-(j / (q - 1)))
                    pe[r * gw + c, j] = math.sin(c * om)
                    pe[r * gw + c, q + j] = math.cos(c * om)
                    pe[r * gw + c, 2 * q + j] = math.sin(r * om)
                    pe[r * gw + c, 3 * q + j] = math.cos(r * om)
        tok = tok + pe[None]
    if cfg["pool"] == "cls":
        x = np.concatenate([np.repeat(P["cls_token"], B, axis=0), tok], axis=1)
    else:
        x = tok
    if cfg["pos_embed"] == "learned":
        x = x + P["pos_embed"]
    T = x.shape[1]
    a_cfg = cfg["attention"]
    maps = []
    for i in range(cfg["depth"]):
        pre = f"blocks.{i}."
        g = lambda n: P[pre + n]
        h = _np_ln(x, g("norm1.weight"), g("norm1.bias"), LN_EPS)
        qkv = h @ g("attn.qkv.weight").T + g("attn.qkv.bias")          # [B,T,3D]
        A = np.zeros((B, nh, T, T))
        vs = []
        for head in range(nh):
            qh = qkv[:, :, head * hd:(head + 1) * hd]
            kh = qkv[:, :, D + head * hd:D + (head + 1) * hd]
            vh = qkv[:, :, 2 * D + head * hd:2 * D + (head + 1) * hd]
            if a_cfg["qk_norm"]:
                qh = _np_ln(qh, g("attn.q_norm.weight"), g("attn.q_norm.bias"), LN_EPS)
                kh = _np_ln(kh, g("attn.k_norm.weight"), g("attn.k_norm.bias"), LN_EPS)
            s = np.einsum("bid,bjd->bij", qh, kh) / math.sqrt(hd)
            if a_cfg["weights"] == "softmax":
                e = np.exp(s - s.max(axis=-1, keepdims=True))
                A[:, head] = e / e.sum(axis=-1, keepdims=True)
            else:
                A[:, head] = T ** (-a_cfg["alpha"]) * _np_act(a_cfg["activation"], s)
            vs.append(vh)
        if reattn_selected(cfg, i):
            Wm, bm = g("attn.reattn.weight"), g("attn.reattn.bias")
            A2 = np.zeros_like(A)
            for go in range(nh):
                for hi in range(nh):
                    A2[:, go] += Wm[go, hi] * A[:, hi]
                A2[:, go] += bm[go]
            nw, nb = g("attn.reattn_norm.weight"), g("attn.reattn_norm.bias")
            if a_cfg["reattention"] == "batchnorm":
                rm_key, rv_key = pre + "attn.reattn_norm.running_mean", pre + "attn.reattn_norm.running_var"
                for go in range(nh):
                    vals = A2[:, go]
                    if training:
                        n = vals.size
                        mu = vals.sum() / n
                        var_b = ((vals - mu) ** 2).sum() / n
                        Bf[rm_key][go] = (1 - BN_MOMENTUM) * Bf[rm_key][go] + BN_MOMENTUM * mu
                        Bf[rv_key][go] = (1 - BN_MOMENTUM) * Bf[rv_key][go] + BN_MOMENTUM * var_b * n / (n - 1)
                    else:
                        mu, var_b = Bf[rm_key][go], Bf[rv_key][go]
                    A2[:, go] = (vals - mu) / math.sqrt(var_b + REATTN_NORM_EPS) * nw[go] + nb[go]
            else:
                A2 = np.moveaxis(_np_ln(np.moveaxis(A2, 1, -1), nw, nb, REATTN_NORM_EPS), -1, 1)
            A = A2
        maps.append(A)
        o = np.zeros((B, T, D))
        for head in range(nh):
            o[:, :, head * hd:(head + 1) * hd] = np.einsum("bij,bjd->bid", A[:, head], vs[head])
        if a_cfg["gate"]:
            o = o * _np_sigmoid(h @ g("attn.gate.weight").T + g("attn.gate.bias"))
        x = x + o @ g("attn.proj.weight").T + g("attn.proj.bias")
        h2 = _np_ln(x, g("norm2.weight"), g("norm2.bias"), LN_EPS)
        m = _np_gelu(h2 @ g("mlp.fc1.weight").T + g("mlp.fc1.bias"))
        x = x + m @ g("mlp.fc2.weight").T + g("mlp.fc2.bias")
    x = _np_ln(x, P["norm.weight"], P["norm.bias"], LN_EPS)
    feat = x[:, 0] if cfg["pool"] == "cls" else x.mean(axis=1)
    logits = feat @ P["head.weight"].T + P["head.bias"]
    K = logits.shape[1]
    eps = cfg["label_smoothing"]
    losses = []
    for b in range(B):
        z = logits[b] - logits[b].max()
        logp = z - math.log(np.exp(z).sum())
        y = int(labels[b])
        losses.append(-(1 - eps) * logp[y] - eps / K * logp.sum())
    return logits, float(np.mean(losses)), maps, Bf


def assert_close(name, got, want, rtol=1e-10, atol=1e-12):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} vs {want.shape}"
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    assert np.all(err <= tol), f"{name}: max abs err {err.max():.3e}"


def to_np(d):
    return {k: v.detach().cpu().numpy().copy() for k, v in d.items()}


# ----------------------------------------------------------------------------- extra self-checks

def check_reattn_paths(model, images):
    """Head-mix vs F.conv2d; BN batch-normalised output mean 0 / var 1 per head; LN per position."""
    with torch.no_grad():
        # independent re-evaluation of the head-mix + norm on random attention-like input
        for blk in model.blocks:
            at = blk.attn
            if not at.use_reattn:
                continue
            nh = at.heads
            a = torch.rand(3, nh, 5, 5, generator=torch.Generator().manual_seed(7))
            mixed = at.reattn(a)
            conv = F.conv2d(a, at.reattn.weight[:, :, None, None], at.reattn.bias)
            assert_close("headmix vs conv2d", mixed, conv, rtol=1e-12, atol=1e-14)
            norm = copy.deepcopy(at.reattn_norm).train()
            y = norm(mixed)
            z = (y - norm.bias[None, :, None, None]) / norm.weight[None, :, None, None]
            if isinstance(norm, HeadBatchNorm):
                mean = z.mean(dim=(0, 2, 3))
                var = z.var(dim=(0, 2, 3), unbiased=False)
                n = mixed[:, 0].numel()
                assert_close("BN mean 0", mean, torch.zeros(nh), atol=1e-12)
                var_b = mixed.var(dim=(0, 2, 3), unbiased=False)
                assert_close("BN var 1", var, var_b / (var_b + REATTN_NORM_EPS), rtol=1e-10)
                assert_close("BN running_mean", norm.running_mean,
                             (1 - BN_MOMENTUM) * at.reattn_norm.running_mean + BN_MOMENTUM * mixed.mean(dim=(0, 2, 3)))
                assert_close("BN running_var", norm.running_var,
                             (1 - BN_MOMENTUM) * at.reattn_norm.running_var
                             + BN_MOMENTUM * mixed.var(dim=(0, 2, 3), unbiased=True))
                assert abs(n / (n - 1) - 1) > 0  # unbiased differs from biased here
                # compare to torch's own BatchNorm2d
                ref = nn.BatchNorm2d(nh, eps=REATTN_NORM_EPS, momentum=BN_MOMENTUM).train()
                ref.weight.copy_(at.reattn_norm.weight)
                ref.bias.copy_(at.reattn_norm.bias)
                ref.running_mean.copy_(at.reattn_norm.running_mean)
                ref.running_var.copy_(at.reattn_norm.running_var)
                assert_close("BN vs nn.BatchNorm2d", y, ref(mixed), rtol=1e-12, atol=1e-13)
                assert_close("BN running_var vs nn", norm.running_var, ref.running_var, rtol=1e-13)
            else:
                mean = z.mean(dim=1)
                var = z.var(dim=1, unbiased=False)
                assert_close("LN mean 0", mean, torch.zeros_like(mean), atol=1e-12)
                var_b = mixed.var(dim=1, unbiased=False)
                assert_close("LN var 1", var, var_b / (var_b + REATTN_NORM_EPS), rtol=1e-10)


def manual_train(model, images, labels, cfg):
    """Same training as `train`, with hand-written clipping and AdamW (reference for torch.optim)."""
    o = cfg["optimizer"]
    names = [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    decay = {n for n, _ in param_groups(model)[0]}
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    model.train()
    for step in range(1, o["steps"] + 1):
        for p in params.values():
            p.grad = None
        loss_fn(cfg, model(images), labels).backward()
        total = math.sqrt(sum(float((params[n].grad ** 2).sum()) for n in names))
        coef = min(1.0, o["clip_norm"] / (total + 1e-6))
        with torch.no_grad():
            for n in names:
                p, gr = params[n], params[n].grad * coef
                wd = o["weight_decay"] if n in decay else 0.0
                p.mul_(1 - o["lr"] * wd)
                m[n] = o["beta1"] * m[n] + (1 - o["beta1"]) * gr
                v[n] = o["beta2"] * v[n] + (1 - o["beta2"]) * gr * gr
                mhat = m[n] / (1 - o["beta1"] ** step)
                vhat = v[n] / (1 - o["beta2"] ** step)
                p.sub_(o["lr"] * mhat / (vhat.sqrt() + o["eps"]))
    return model


def train(model, images, labels, cfg):
    """`steps` steps of clip_grad_norm_ + AdamW on one batch; returns the pre-clip grad norms."""
    o = cfg["optimizer"]
    decay, no_decay = param_groups(model)
    opt = torch.optim.AdamW(
        [{"params": [p for _, p in decay], "weight_decay": o["weight_decay"]},
         {"params": [p for _, p in no_decay], "weight_decay": 0.0}],
        lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    model.train()
    norms = []
    for _ in range(o["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(cfg, model(images), labels)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), o["clip_norm"])))
        opt.step()
    return norms


def run_gradcheck():
    """gradcheck of the loss wrt images and all parameters on tiny models covering every path."""
    from torch.nn.utils.stateless import functional_call
    tiny = dict(image_height=4, image_width=6, channels=2, patch_size=2, num_classes=3,
                width=8, depth=2, heads=2, mlp_dim=8)
    variants = [
        dict(pool="cls", pos_embed="learned", label_smoothing=0.1,
             attention=dict(weights="softmax", reattention="batchnorm", reattention_blocks="all")),
        dict(pool="gap", pos_embed="sincos2d",
             attention=dict(weights="pointwise", activation="relu6", alpha=1.5, qk_norm=True, gate=True,
                            reattention="layernorm", reattention_blocks="last:1")),
        dict(attention=dict(weights="pointwise", activation="gelu", alpha=0.75, qk_norm=True, gate=True,
                            reattention="batchnorm", reattention_blocks="last:1")),
    ] + [dict(attention=dict(weights="pointwise", activation=a, alpha=0.5 + 0.25 * j))
         for j, a in enumerate(["relu", "relu2", "softplus", "identity", "sigmoid"])]
    for j, var in enumerate(variants):
        cfg = make_config(**tiny, **var)
        torch.manual_seed(1000 + j)
        model = VisionTransformer(cfg)
        init_params(model, torch.Generator().manual_seed(2000 + j), q_scale=3.0 if "relu6" in str(var) else 1.0)
        model.train()
        names = [n for n, _ in model.named_parameters()]
        gen = torch.Generator().manual_seed(3000 + j)
        images = torch.randn(3, cfg["channels"], cfg["image_height"], cfg["image_width"], generator=gen)
        labels = torch.randint(0, cfg["num_classes"], (3,), generator=gen)
        inputs = [images.clone().requires_grad_(True)] + \
                 [p.detach().clone().requires_grad_(True) for _, p in model.named_parameters()]

        def f(img, *ps):
            out = functional_call(model, dict(zip(names, ps)), (img,))
            return loss_fn(cfg, out, labels)

        assert torch.autograd.gradcheck(f, tuple(inputs), eps=1e-6, atol=1e-7, rtol=1e-5), var
        n_el = sum(t.numel() for t in inputs)
        print(f"gradcheck ok: tiny variant {j} ({n_el} inputs) {json.dumps(var['attention'])}")


# ----------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; all stored as little-endian F64."""
    header = {}
    blobs = []
    off = 0
    for name, t in tensors:
        arr = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f8")
        raw = arr.tobytes(order="C")
        header[name] = {"dtype": "F64", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hb)))
        fh.write(hb)
        for raw in blobs:
            fh.write(raw)


def read_safetensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    n = struct.unpack("<Q", data[:8])[0]
    assert n % 8 == 0
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    out = {}
    end_prev = 0
    for name, h in header.items():
        b, e = h["data_offsets"]
        assert b == end_prev and h["dtype"] == "F64"
        end_prev = e
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f8").reshape(h["shape"])
    assert 8 + n + end_prev == len(data)
    return out, meta


# ----------------------------------------------------------------------------- cases

D3 = dict(width=12, heads=3, mlp_dim=24)  # smaller width for depth-3 cases to keep files small

CASES = [
    ("softmax", make_config(label_smoothing=0.1), 1.0),
    ("relu_l", make_config(image_height=8, image_width=12, channels=1, patch_size=4, pool="gap",
                           pos_embed="sincos2d", attention=dict(weights="pointwise", activation="relu",
                                                                alpha=1.0)), 1.0),
    ("relu2_a05", make_config(attention=dict(weights="pointwise", activation="relu2", alpha=0.5)), 1.0),
    ("sigmoid_qknorm_gate", make_config(attention=dict(weights="pointwise", activation="sigmoid",
                                                       alpha=1.0, qk_norm=True, gate=True)), 1.0),
    ("reattn_bn_softmax", make_config(depth=3, **D3, attention=dict(
        weights="softmax", reattention="batchnorm", reattention_blocks="all")), 1.0),
    ("reattn_bn_relu_l", make_config(depth=2, attention=dict(
        weights="pointwise", activation="relu", alpha=1.0, reattention="batchnorm",
        reattention_blocks="last:1")), 1.0),
    ("reattn_ln_softmax", make_config(attention=dict(
        weights="softmax", reattention="layernorm", reattention_blocks="all")), 1.0),
    ("reattn_ln_relu_l", make_config(depth=3, **D3, pool="gap", attention=dict(
        weights="pointwise", activation="relu", alpha=1.0, reattention="layernorm",
        reattention_blocks="last:2")), 1.0),
    ("pointwise_mix", make_config(depth=2, attention=dict(
        weights="pointwise", activation="gelu", alpha=0.75, qk_norm=True, gate=True)), 1.0),
    ("act_softplus", make_config(attention=dict(weights="pointwise", activation="softplus", alpha=0.25)), 1.0),
    ("act_identity", make_config(attention=dict(weights="pointwise", activation="identity", alpha=1.0)), 1.0),
    ("act_relu6", make_config(attention=dict(weights="pointwise", activation="relu6", alpha=1.5)), 3.0),
]

BATCH = 4


def build_case(idx, name, cfg, q_scale, out_dir):
    seed = 20240 + 17 * idx
    gen = torch.Generator().manual_seed(seed)
    model = VisionTransformer(cfg)
    init_params(model, gen, q_scale)
    images = torch.randn(BATCH, cfg["channels"], cfg["image_height"], cfg["image_width"], generator=gen)
    labels = torch.randint(0, cfg["num_classes"], (BATCH,), generator=gen)
    if len(set(labels.tolist())) < 2:
        labels[0] = (labels[1] + 1) % cfg["num_classes"]
    init = copy.deepcopy(model)
    P0, B0 = to_np(dict(model.named_parameters())), to_np(buffers_of(model))

    # forward + backward at the initial parameters (training mode) on a throw-away copy,
    # so the running stats used by the training below start from their initial values
    fwd = copy.deepcopy(init).train()
    logits = fwd(images)
    loss = loss_fn(cfg, logits, labels)
    loss.backward()
    maps = fwd.attn_maps()
    scores = [blk.attn.last_scores for blk in fwd.blocks]
    grads = {n: p.grad.detach().clone() for n, p in fwd.named_parameters()}

    # --- self-checks of the forward
    ref_logits, ref_loss, ref_maps, ref_buf = np_reference(cfg, P0, B0, images.numpy(), labels.numpy(), True)
    assert_close(f"{name} logits", logits.detach(), ref_logits)
    assert_close(f"{name} loss", loss.detach(), ref_loss)
    for i, (m, rm) in enumerate(zip(maps, ref_maps)):
        assert_close(f"{name} attn_map.{i}", m, rm)
    for k, v in to_np(buffers_of(fwd)).items():
        assert_close(f"{name} buffer {k} after 1 fwd", v, ref_buf[k])
    check_reattn_paths(init, images)
    a = cfg["attention"]
    if a["weights"] == "pointwise":
        allsc = torch.cat([s.flatten() for s in scores])
        assert (allsc < 0).any() and (allsc > 0).any(), "need scores of both signs"
        if a["activation"] == "relu6":
            assert (allsc > 6).any() and ((allsc > 0) & (allsc < 6)).any(), "relu6 must saturate somewhere"
        if a["activation"] == "softplus":
            assert (allsc.abs() < 20).all()  # below torch's softplus linear threshold
    gnorm0 = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
    assert gnorm0 > cfg["optimizer"]["clip_norm"], "clipping must trigger on step 1"

    # --- training
    trained = copy.deepcopy(init)
    norms = train(trained, images, labels, cfg)
    assert abs(norms[0] - gnorm0) <= 1e-10 * gnorm0
    manual = manual_train(copy.deepcopy(init), images, labels, cfg)
    for (n, p), (_, q) in zip(trained.named_parameters(), manual.named_parameters()):
        assert_close(f"{name} after.{n} (manual AdamW)", p.detach(), q.detach(), rtol=1e-9, atol=1e-10)
    for (n, b), (_, c) in zip(buffers_of(trained).items(), buffers_of(manual).items()):
        assert_close(f"{name} after buffer {n}", b, c)
    trained.eval()
    with torch.no_grad():
        eval_logits = trained(images)
    P3, B3 = to_np(dict(trained.named_parameters())), to_np(buffers_of(trained))
    ref_eval, _, _, _ = np_reference(cfg, P3, B3, images.numpy(), labels.numpy(), False)
    assert_close(f"{name} eval_logits", eval_logits, ref_eval)

    # --- write
    tensors = [("input.images", images), ("input.labels", labels.to(torch.float64))]
    tensors += [(f"param.{n}", p) for n, p in init.named_parameters()]
    tensors += [(f"buffer.{n}", b) for n, b in buffers_of(init).items()]
    tensors += [("output.logits", logits), ("output.loss", loss.reshape(1))]
    tensors += [(f"output.attn_map.{i}", m) for i, m in enumerate(maps)]
    tensors += [(f"grad.{n}", grads[n]) for n, _ in init.named_parameters()]
    tensors += [(f"after.param.{n}", p) for n, p in trained.named_parameters()]
    tensors += [(f"after.buffer.{n}", b) for n, b in buffers_of(trained).items()]
    tensors += [("after.eval_logits", eval_logits)]
    cfg_json = json.dumps(cfg)
    meta = {"case": name, "torch_version": torch.__version__, "config": cfg_json}
    st_path = os.path.join(out_dir, name + ".safetensors")
    write_safetensors(st_path, tensors, meta)
    with open(os.path.join(out_dir, name + ".json"), "w") as fh:
        fh.write(json.dumps(cfg, indent=2) + "\n")

    back, meta_back = read_safetensors(st_path)
    assert meta_back == meta and list(back) == [n for n, _ in tensors]
    for n, t in tensors:
        assert np.array_equal(back[n], t.detach().numpy().astype(np.float64)), n
    size = os.path.getsize(st_path)
    assert size < 200_000, (name, size)
    n_params = sum(p.numel() for p in init.parameters())
    clipped = sum(1 for x in norms if x > cfg["optimizer"]["clip_norm"])
    print(f"{name:20s} T={maps[0].shape[-1]} depth={cfg['depth']} params={n_params} "
          f"loss={loss.item():.6f} |g|={norms[0]:.4f} clipped={clipped}/{len(norms)} "
          f"final_loss_eval={loss_fn(cfg, eval_logits, labels).item():.6f} "
          f"tensors={len(tensors)} bytes={size}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "src", "test", "resources", "fixtures"))
    ap.add_argument("--skip-gradcheck", action="store_true")
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    if not args.skip_gradcheck:
        run_gradcheck()
    for idx, (name, cfg, q_scale) in enumerate(CASES):
        build_case(idx, name, cfg, q_scale, out)


if __name__ == "__main__":
    main()
