#!/usr/bin/python3
"""PyTorch peer of `roast-train bench train --synthetic`: the same model, shapes, optimizer and
timing (median step after warm-up, split forward / backward / optimizer), dense weights.

    OMP_NUM_THREADS=2 taskset -c 0,1 /usr/bin/python3 bench/peers/torch_train.py --model cnn
    OMP_NUM_THREADS=2 taskset -c 0,1 /usr/bin/python3 bench/peers/torch_train.py --model transformer

cnn: configs/quickstart.json (conv3x3 1->32, BN, ReLU, maxpool 2; conv3x3 32->64, BN, ReLU,
maxpool 2; fc 3136->128, ReLU; classifier 128->10; Adam lr 0.002; batch 128, 1x28x28).
transformer: configs/imdb/transformer-base.json (token + position embeddings 20000 / 256 x 64,
dropout 0.1, 2 pre-norm blocks of 2-head attention and a GELU (tanh) FFN 64->128->64, final
LayerNorm, masked mean, classifier 64->2; AdamW lr 1e-3, wd 0.01, clip 1.0; batch 32 x 256).
Debian's python3-torch (1.13, CPU) on the build machine; any PyTorch >= 1.12 runs it. Debian's
torch calls whatever libblas.so.3 provides: install an optimised one first (`apt-get install
python3-torch libopenblas0-openmp`; the reference BLAS makes its matrix products ~10x slower).
On a machine shared with other jobs, also set OMP_WAIT_POLICY=passive (roast-train's default):
PyTorch's spinning OpenMP threads lose 2x (CNN) to 6x (transformer) there.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
        self.fc, self.classifier = nn.Linear(64 * 7 * 7, 128), nn.Linear(128, 10)

    def forward(self, x, mask=None):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.classifier(F.relu(self.fc(x.flatten(1))))


class Block(nn.Module):
    """Pre-norm: h = x + drop(attn(ln1(x))); h + drop(ffn(ln2(h))), as roast's TransformerBlock."""

    def __init__(self, dim, heads, ffn, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ffn_in, self.ffn_out = nn.Linear(dim, ffn), nn.Linear(ffn, dim)

    def attention(self, x, additive):
        b, t, d = x.shape
        dh = d // self.heads
        split = lambda y: y.view(b, t, self.heads, dh).transpose(1, 2)  # [B, H, T, dh]
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + additive  # [B, H, T, T]
        w = F.dropout(scores.softmax(-1), self.p, self.training)
        return self.o((w @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x, additive):
        h = x + F.dropout(self.attention(self.norm1(x), additive), self.p, self.training)
        f = self.ffn_out(F.gelu(self.ffn_in(self.norm2(h)), approximate="tanh"))
        return h + F.dropout(f, self.p, self.training)


class Transformer(nn.Module):
    def __init__(self, vocab=20000, seq=256, dim=64, heads=2, layers=2, ffn=128, p=0.1, classes=2):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ffn, p) for _ in range(layers))
        self.norm, self.classifier, self.p = nn.LayerNorm(dim), nn.Linear(dim, classes), p

    def forward(self, ids, mask):
        b, t = ids.shape
        h = F.dropout(self.tokens(ids) + self.positions(torch.arange(t)), self.p, self.training)
        additive = ((mask - 1.0) * 1e9).view(b, 1, 1, t)
        for blk in self.blocks:
            h = blk(h, additive)
        h = self.norm(h)
        m = mask.unsqueeze(-1)
        return self.classifier((h * m).sum(1) / (mask.sum(1, keepdim=True) + 1e-6))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["cnn", "transformer"], required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.model == "cnn":
        model, batch = Cnn(), 128
        opt = torch.optim.Adam(model.parameters(), lr=0.002)
        batches = [(torch.randn(batch, 1, 28, 28), None, torch.randint(0, 10, (batch,))) for _ in range(4)]
        clip = None
    else:
        model, batch = Transformer(), 32
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        batches = [(torch.randint(0, 20000, (batch, 256)), torch.ones(batch, 256), torch.randint(0, 2, (batch,)))
                   for _ in range(4)]
        clip = 1.0
    model.train()
    steps, fwd, bwd, upd = [], 0.0, 0.0, 0.0
    for step in range(a.warmup + a.steps):
        x, mask, y = batches[step % len(batches)]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x, mask), y)
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        t3 = time.perf_counter()
        if step >= a.warmup:
            steps.append(t3 - t0)
            fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
    n, med = a.steps, statistics.median(steps)
    r = {"peer": "pytorch " + torch.__version__, "model": a.model, "threads": torch.get_num_threads(),
         "batch_size": batch, "samples_per_second": batch / med,
         "step_ms": {"median": med * 1e3, "min": min(steps) * 1e3, "mean": sum(steps) * 1e3 / n},
         "phases_ms": {"forward": fwd * 1e3 / n, "backward": bwd * 1e3 / n, "optimizer": upd * 1e3 / n}}
    if a.json:
        print(json.dumps(r))
    else:
        print(f"pytorch {torch.__version__} {a.model}: {r['samples_per_second']:.1f} samples/s, step ms median "
              f"{med * 1e3:.2f}; forward {r['phases_ms']['forward']:.2f}, backward {r['phases_ms']['backward']:.2f}, "
              f"optimizer {r['phases_ms']['optimizer']:.2f}")


if __name__ == "__main__":
    main()
