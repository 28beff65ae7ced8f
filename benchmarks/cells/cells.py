"""Print one shell command per LightGCN grid cell (issue 14 honest first, then issue 13 pruning).

env: DEV (cuda|cpu), DATA (data dir), PRUNE_OUT (pruning grid root), HONEST_OUT (per-cell honest folders root),
PY (python), PART (honest|pruning|all), REVERSE=1 prints the list backwards.
"""
import os

DEV, DATA, PY = os.environ["DEV"], os.environ["DATA"], os.environ.get("PY", "python3")
PRUNE, HON = os.environ["PRUNE_OUT"], os.environ["HONEST_OUT"]
part = os.environ.get("PART", "all")
C = ("--valid-noise both --select metric,loss,trimmed_loss --epochs 150 --patience 0 --set train.lr=0.005 "
     "--set train.batch_size=2048 --set train.eval_every=1 --set model.embedding_dim=64 --set model.num_layers=3 "
     "--set train.checkpoint_every=5 --keep-going --no-progress")
D = " --option deca.c_1=100 --option deca.c_2=100 --option deca.alpha=0"  # the benchmark's LightGCN constants
lines = []
if part in ("honest", "all"):
    for seed in (0, 1, 2):
        for noise, tag in (("injected:0.2", "inj"), ("natural", "nat")):
            for m in ("bpr", "bce", "pld", "nbpo", "tce", "rce", "dcf", "udt", "deca"):
                lines.append(f"{PY} -m recdenoise bench denoise --datasets ml-100k --data-dir {DATA} --backbones lightgcn "
                             f"--noise {noise} --seeds {seed} --methods {m} {C}{D if m == 'deca' else ''} --device {DEV} --output {HON}/{tag}-{m}-s{seed}")
if part in ("pruning", "all"):
    G = f"{PY} benchmarks/pruning_grid.py --output {PRUNE} --data-dir {DATA} --device {DEV} --backbones lightgcn"
    plan = [("injected:0.2", 1), ("injected:0.2", 2), ("natural", 0), ("natural", 1), ("natural", 2)]
    for noise, seed in plan:
        for b in ("bpr", "pld", "nbpo", "tce", "rce", "elr"):
            lines.append(f'{G} --noise {noise} --seeds {seed} --baselines {b} --fractions ""')
        for f in ("0.1", "0.2", "0.3"):
            for m in ("random", "el2n", "grand", "prototype", "kd"):
                lines.append(f'{G} --noise {noise} --seeds {seed} --baselines "" --methods {m} --fractions {f}')
if os.environ.get("REVERSE") == "1":
    lines.reverse()
print("\n".join(lines))
