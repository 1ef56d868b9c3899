#!/usr/bin/python3
"""PyTorch peer of `roast-train bench train --synthetic`: the same model, shapes, optimizer and
timing (median step after warm-up, split forward / backward / optimizer), dense weights.

    OMP_NUM_THREADS=2 taskset -c 0,1 /usr/bin/python3 bench/peers/torch_train.py --model cnn
    OMP_NUM_THREADS=2 taskset -c 0,1 /usr/bin/python3 bench/peers/torch_train.py --model transformer
    python3 bench/peers/torch_train.py --model transformer --device cuda [--compile] [--precision tf32|bf16] \
        [--dim 768 --heads 12 --layers 4 --ffn 3072 --seq 128 --batch 32]

On CUDA the step is timed between torch.cuda.synchronize() calls; --compile wraps the model in
torch.compile (default mode) and warms up until compilation is done; --precision tf32 allows TF32
matrix products, bf16 runs the forward and backward under torch.autocast(bfloat16) with fp32
weights and optimizer state (the usual mixed precision). Peak GPU memory is
torch.cuda.max_memory_allocated() over the timed steps.

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
        h = F.dropout(self.tokens(ids) + self.positions(torch.arange(t, device=ids.device)), self.p, self.training)
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
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, help="batch size (default: the config's, 128 cnn / 32 transformer)")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=128)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    if a.model == "cnn":
        batch = a.batch or 128
        model = Cnn().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=0.002)
        batches = [(torch.randn(batch, 1, 28, 28, device=dev), None, torch.randint(0, 10, (batch,), device=dev))
                   for _ in range(4)]
        clip = None
    else:
        batch = a.batch or 32
        model = Transformer(a.vocab, a.seq, a.dim, a.heads, a.layers, a.ffn).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        batches = [(torch.randint(0, a.vocab, (batch, a.seq), device=dev), torch.ones(batch, a.seq, device=dev),
                    torch.randint(0, 2, (batch,), device=dev)) for _ in range(4)]
        clip = 1.0
    forward = torch.compile(model) if a.compile else model
    model.train()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if a.precision == "bf16" else \
        (lambda: torch.autocast(dev.type, enabled=False))
    warmup = a.warmup + (10 if a.compile else 0)
    steps, fwd, bwd, upd = [], 0.0, 0.0, 0.0
    for step in range(warmup + a.steps):
        if step == warmup and cuda:
            torch.cuda.reset_peak_memory_stats()
        x, mask, y = batches[step % len(batches)]
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(forward(x, mask), y)
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sync()
        t3 = time.perf_counter()
        if step >= warmup:
            steps.append(t3 - t0)
            fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
    n, med = a.steps, statistics.median(steps)
    r = {"peer": "pytorch " + torch.__version__ + (" compile" if a.compile else " eager"), "model": a.model,
         "device": a.device, "precision": a.precision, "threads": torch.get_num_threads(),
         "batch_size": batch, "samples_per_second": batch / med,
         "step_ms": {"median": med * 1e3, "min": min(steps) * 1e3, "mean": sum(steps) * 1e3 / n},
         "phases_ms": {"forward": fwd * 1e3 / n, "backward": bwd * 1e3 / n, "optimizer": upd * 1e3 / n}}
    if cuda:
        r["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['peer']} {a.model} {a.device} {a.precision}: {r['samples_per_second']:.1f} samples/s, step ms "
              f"median {med * 1e3:.2f}; forward {r['phases_ms']['forward']:.2f}, backward "
              f"{r['phases_ms']['backward']:.2f}, optimizer {r['phases_ms']['optimizer']:.2f}"
              + (f"; peak GPU {r['peak_gpu_bytes'] / 2**20:.0f} MiB" if cuda else ""))


if __name__ == "__main__":
    main()
