#!/usr/bin/env python3
"""Cross-check `bin/dualign dual` against an independent scipy solve (L-BFGS-B on the same dual).

Writes ragged, shuffled JSON-lines samples (optionally with scores far above beta), runs both
solvers and prints the largest |Δλ|. Needs numpy and scipy; not part of the test suite.
usage: tools/crosscheck_dual.py [--prompts M] [--max-per-prompt N] [--scale S] [--beta B] [--seed K]
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

ap = argparse.ArgumentParser()
ap.add_argument("--prompts", type=int, default=300)
ap.add_argument("--max-per-prompt", type=int, default=12)
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--beta", type=float, default=0.2)
ap.add_argument("--constraints", type=int, default=2, choices=[1, 2])
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = np.random.default_rng(a.seed)
rows = []
for x in range(a.prompts):
    for _ in range(rng.integers(1, a.max_per_prompt + 1)):
        r = rng.normal()
        g1 = -0.6 * r + rng.normal()
        g2 = -0.4 * r + 0.7 * rng.normal()
        rows.append((x, a.scale * r, a.scale * g1, a.scale * g2))
rng.shuffle(rows)
names = ["harmless", "humour"][: a.constraints]
G = np.array([[row[2], row[3]][: a.constraints] for row in rows])
R = np.array([row[1] for row in rows])
P = np.array([row[0] for row in rows])
b = G.mean(axis=0) + a.scale * np.array([0.3, 0.2])[: a.constraints]
groups = [np.where(P == x)[0] for x in range(a.prompts)]

def D(lam):
    s = (R + G @ lam) / a.beta
    val, grad = 0.0, np.zeros_like(lam)
    for idx in groups:
        lse = logsumexp(s[idx])
        w = np.exp(s[idx] - lse)
        val += a.beta * (lse - np.log(len(idx)))
        grad += w @ G[idx]
    return val / len(groups) - lam @ b, grad / len(groups) - b

t0 = time.time()
res = minimize(D, np.zeros(a.constraints), jac=True, method="L-BFGS-B",
               bounds=[(0, None)] * a.constraints, options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000))
t1 = time.time()
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    for (x, r, g1, g2) in rows:
        u = {"harmless": g1, "humour": g2}
        f.write(json.dumps({"promptId": f"p{x}", "reward": r, "utilities": {n: u[n] for n in names}}) + "\n")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
cmd = [os.path.join(root, "bin", "dualign"), "dual", "--samples", f.name, "--beta", str(a.beta)]
for n, v in zip(names, b):
    cmd += ["--margin", f"{n}={float(v)!r}"]
out = subprocess.run(cmd, capture_output=True, text=True)
os.unlink(f.name)
if out.returncode != 0:
    sys.exit(f"dualign exited {out.returncode}: {out.stderr}")
ours = json.loads(out.stdout)["lambda"]
diff = max(abs(ours[n] - res.x[i]) for i, n in enumerate(names))
print(json.dumps({"scipy": dict(zip(names, res.x.tolist())), "dualign": ours, "max_abs_diff": diff,
                  "scipy_seconds": round(t1 - t0, 3), "samples": len(rows)}))
sys.exit(0 if diff <= 1e-6 else 1)
