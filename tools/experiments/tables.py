#!/usr/bin/env python3
"""Prints the Markdown table of docs/experiments.md for one experiment, from its JSON result.

    python3 tools/experiments/tables.py canary|lambda-ci|oneshot-bias [DIR]
"""
import json
import statistics as st
import sys
from collections import defaultdict


def canary(d):
    agg = defaultdict(list)
    for c in d['result']['cells']:
        agg[(c['scores'], c['mean'], c['bound'])].append(c)
    print("| scores | true mean | bound | promoted | rolled back | undecided at 3,000 | mean samples to a decision |")
    print("|---|---|---|---|---|---|---|")
    for k, v in sorted(agg.items(), key=lambda kv: (kv[0][0] != 'uniform', kv[0][1], kv[0][2] != 'normal')):
        f = lambda key: "%.4f (%.4f–%.4f)" % (st.mean(x[key] for x in v), min(x[key] for x in v), max(x[key] for x in v))
        s = [x['meanSamplesToDecision'] for x in v if x['meanSamplesToDecision'] is not None]
        print("| %s | %.2f | %s | %s | %s | %s | %s |" % (k[0], k[1], 'fixed-n normal' if k[2] == 'normal' else 'anytime-valid',
              f('promoted'), f('rolledBack'), f('undecided'), "%.0f" % st.mean(s) if s else "—"))


def lambda_ci(d):
    agg = defaultdict(list)
    for c in d['result']['cells']:
        agg[(c['k'], c['extrapolation'])].append(c)
    print("| K | λ* (mean) | λ̂ (mean) | coverage of λ* by the interval at K (before) | extrapolation | estimated bias (mean) "
          "| λ̂ − bias (mean) | coverage of λ* by the corrected interval (after) |")
    print("|---|---|---|---|---|---|---|---|")
    for k, v in sorted(agg.items()):
        m = lambda key: st.mean(x[key] for x in v)
        r = lambda key: "%.2f (%.2f–%.2f)" % (m(key), min(x[key] for x in v), max(x[key] for x in v))
        print("| %d | %.3f | %.3f | %s | %s | %.3f | %.3f | %s |" % (k[0], m('meanLambdaStar'), m('meanLambdaHat'), r('coverageAtK'),
              '1/K' if k[1] == 'inverse-k' else '1/√K', m('meanBiasEstimate'), m('meanCorrected'), r('coverageCorrected')))


def oneshot_bias(d):
    agg = defaultdict(list)
    for c in d['result']['cells']:
        agg[(c['prompts'], c['k'])].append(c)
    refs = d['result']['reference']
    ks = sorted({k for _, k in agg})
    print("| prompts | " + " | ".join("K = %d" % k for k in ks) + " |")
    print("|---|" + "---|" * len(ks))
    for m in sorted({m for m, _ in agg}):
        row = []
        for k in ks:
            v = agg[(m, k)]
            hat = [x['lambdaHat'] for x in v if 'lambdaHat' in x]
            cor = [x['lambdaCorrected'] for x in v if 'lambdaCorrected' in x]
            sq = [x['lambdaCorrectedSqrt'] for x in v if 'lambdaCorrectedSqrt' in x]
            row.append(("%.3f" % st.mean(hat) if hat else "infeasible")
                       + (" (%.3f / %.3f)" % (st.mean(cor), st.mean(sq)) if cor else ""))
        print("| %d | %s |" % (m, " | ".join(row)))
    print()
    print("Reference λ* (%d prompts × %d, extrapolated from K/2 and K as 1/K), per seed: %s (as 1/√K: %s); λ̂ there: %s." % (
        d['result']['poolPrompts'], d['result']['poolSamplesPerPrompt'],
        ", ".join("%.3f" % r['lambdaCorrected'] for r in refs), ", ".join("%.3f" % r['lambdaCorrectedSqrt'] for r in refs),
        ", ".join("%.3f" % r['lambdaHat'] for r in refs)))


if __name__ == '__main__':
    name = sys.argv[1]
    folder = sys.argv[2] if len(sys.argv) > 2 else 'docs/experiments'
    doc = json.load(open('%s/%s.json' % (folder, name)))
    {'canary': canary, 'lambda-ci': lambda_ci, 'oneshot-bias': oneshot_bias}[name](doc)
