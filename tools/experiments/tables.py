#!/usr/bin/env python3
"""Prints the Markdown table of docs/experiments.md for one experiment, from its JSON result, after a
line with the commit the result was made from (its `provenance`; "not recorded" in older results).

    python3 tools/experiments/tables.py canary|canary-hold|lambda-ci|oneshot-bias|tradeoff|margins|multi|nu [DIR]
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
    order = {'normal': 0, 'anytime': 1, 'stitched': 1, 'betting': 2}
    names = {'normal': 'fixed-n normal', 'anytime': 'anytime-valid', 'stitched': 'stitched EB sequence',
             'betting': 'betting sequence (PrPl-EB)'}
    for k, v in sorted(agg.items(), key=lambda kv: (kv[0][0] != 'uniform', kv[0][1], order[kv[0][2]])):
        f = lambda key: "%.4f (%.4f–%.4f)" % (st.mean(x[key] for x in v), min(x[key] for x in v), max(x[key] for x in v))
        s = [x['meanSamplesToDecision'] for x in v if x['meanSamplesToDecision'] is not None]
        print("| %s | %.2f | %s | %s | %s | %s | %s |" % (k[0], k[1], names[k[2]],
              f('promoted'), f('rolledBack'), f('undecided'), "%.0f" % st.mean(s) if s else "—"))


def canary_hold(d):
    agg = defaultdict(list)
    for c in d['result']['hold']:
        agg[c['mean']].append(c)
    print("| true mean (margin 0.5) | promoted within 6,000 | median samples to a decision | 95th percentile | "
          "seconds at 12.5 canary samples/s (median / 95th) |")
    print("|---|---|---|---|---|")
    for mean, v in sorted(agg.items()):
        med = [x['medianSamples'] for x in v if x['medianSamples'] is not None]
        p95 = [x['p95Samples'] for x in v if x['p95Samples'] is not None]
        rate = v[0]['samplesPerSecond']
        m, p = (st.mean(med) if med else None), (st.mean(p95) if p95 else None)
        print("| %.2f | %.3f | %s | %s | %s |" % (mean, st.mean(x['promoted'] for x in v), "%.0f" % m if m else "—",
              "%.0f" % p if p else "—", "%.0f / %.0f" % (m / rate, p / rate) if m and p else "—"))


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


def spread(xs, fmt="%.3f"):
    """mean (min–max) over seeds"""
    xs = list(xs)
    return (fmt + " (" + fmt + "–" + fmt + ")") % (st.mean(xs), min(xs), max(xs))


def tradeoff(d):
    seeds = d['result']['seeds']
    if 'distillFromReference' in seeds[0] and 'trueRewardHalfWidth' in seeds[0]['distillFromReference'][0]:
        policy_steps(seeds)
        beta_sweep(seeds)
    else:
        print("| λ | π_λ true harmless | π_λ true reward | DPO true harmless | DPO true reward | DPO KL (nats) |")
        print("|---|---|---|---|---|---|")
        for i, p in enumerate(seeds[0]['dpoFromReference']):
            pts = [s['dpoFromReference'][i] for s in seeds]
            print("| %.2f | %s | %s | %s | %s | %s |" % (p['lambda'], spread(x['tiltHarmless'] for x in pts),
                  spread(x['tiltReward'] for x in pts), spread(x['trueHarmless'] for x in pts),
                  spread(x['trueReward'] for x in pts), spread((x['kl'] for x in pts), "%.1f")))
    print()
    print("Reference (held out): true harmless %s, true reward %s. One-shot λ* per seed: %s; π_λ* true harmless %s, reward %s." % (
        spread(s['reference']['trueHarmless'] for s in seeds), spread(s['reference']['trueReward'] for s in seeds),
        ", ".join("%.3f" % s['lambdaStar'] for s in seeds), spread(s['tiltAtLambdaStar']['trueHarmless'] for s in seeds),
        spread(s['tiltAtLambdaStar']['trueReward'] for s in seeds)))
    print()
    print("| chain at λ* (DPO) | version | true harmless | true reward | KL (nats) |")
    print("|---|---|---|---|---|")
    for key, label in (('warmStart', 'warm start (t−1 weights, t−1 samples)'),
                       ('fromReference', 'π_ref weights, t−1 samples'),
                       ('fromReferenceOnReferencePairs', 'π_ref weights, π_ref samples')):
        for t in range(len(seeds[0][key])):
            pts = [s[key][t] for s in seeds]
            print("| %s | %d | %s | %s | %s |" % (label, t + 1, spread(x['trueHarmless'] for x in pts),
                  spread(x['trueReward'] for x in pts), spread((x['kl'] for x in pts), "%.1f")))


def lagrangian(x, lam, beta, prefix=''):
    """Scored L = E r̂ + λ·E ĝ − β·KL of a point (prefix 'tilt' for π_λ's, which carries tiltScored*)."""
    if prefix:
        return x['tiltScoredReward'] + lam * x['tiltScored_harmless'] - beta * x['tiltKl']
    return x['scoredReward'] + lam * x['scored_harmless'] - beta * x['kl']


def meets(x, lref, l):
    """Issue #29's line for one point: reward ≥ 0.95 × π_λ's, harmlessness ≥ π_λ's − 0.02, L ≥ L(π_ref)."""
    return x['trueReward'] >= 0.95 * x['tiltReward'] and x['trueHarmless'] >= x['tiltHarmless'] - 0.02 and l >= lref


def policy_steps(seeds):
    """π_λ, distillation and DPO at each λ: true values with their largest 95 % half-width, win rate, L, #29's line."""
    beta = 0.1
    print("| λ | policy | true harmless | true reward | largest half-width | win rate vs π_ref | reward / π_λ's "
          "| harmless − π_λ's | KL (nats) | L | L(π_ref) | meets #29 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, p in enumerate(seeds[0]['distillFromReference']):
        lam = p['lambda']
        tilt = [next(t for t in s['tilt'] if abs(t['lambda'] - lam) < 1e-9) for s in seeds]
        print("| %.2f | π_λ | %s | %s | %.3f | %s | 1 | 0 | %s | %s | %s | — |" % (lam,
              spread(x['trueHarmless'] for x in tilt), spread(x['trueReward'] for x in tilt),
              max(max(x['trueHarmlessHalfWidth'], x['trueRewardHalfWidth']) for x in tilt),
              spread(x['winRate'] for x in tilt), spread((x['kl'] for x in tilt), "%.1f"),
              spread(lagrangian(x, lam, beta) for x in tilt), spread(lagrangian(s['reference'], lam, beta) for s in seeds)))
        for key, label in (('distillFromReference', 'distilled'), ('dpoFromReference', 'DPO')):
            pts = [s[key][i] for s in seeds]
            refs = [lagrangian(s['reference'], lam, beta) for s in seeds]
            ls = [lagrangian(x, lam, beta) for x in pts]
            ok = sum(1 for x, lr, l in zip(pts, refs, ls) if meets(x, lr, l))
            print("| %.2f | %s | %s | %s | %.3f | %s | %s | %s | %s | %s | %s | %d of %d |" % (lam, label,
                  spread(x['trueHarmless'] for x in pts), spread(x['trueReward'] for x in pts),
                  max(max(x['trueHarmlessHalfWidth'], x['trueRewardHalfWidth']) for x in pts),
                  spread(x['winRate'] for x in pts), spread(x['trueReward'] / x['tiltReward'] for x in pts),
                  spread(x['trueHarmless'] - x['tiltHarmless'] for x in pts), spread((x['kl'] for x in pts), "%.1f"),
                  spread(ls), spread(refs), ok, len(pts)))


def beta_sweep(seeds):
    """The one-shot λ*(b) and π_λ*'s true values at each β, over the margins."""
    if 'betaSweep' not in seeds[0]:
        return
    print()
    margins = [m['margin'] for m in seeds[0]['betaSweep'][0]['lambdaStar']]
    print("| β | " + " | ".join("λ*(%.2f) / π_λ* true harmless, reward" % m for m in margins) + " |")
    print("|---|" + "---|" * len(margins))
    for b, sweep in enumerate(seeds[0]['betaSweep']):
        cells = []
        for m in range(len(margins)):
            pts = [s['betaSweep'][b]['lambdaStar'][m] for s in seeds]
            ok = [x for x in pts if 'lambda' in x]
            if not ok:
                cells.append("infeasible")
                continue
            cells.append("%s / %s, %s%s" % (spread((x['lambda'] for x in ok), "%.2f"),
                         spread((x['trueHarmless'] for x in ok), "%.2f"), spread((x['trueReward'] for x in ok), "%.2f"),
                         "" if len(ok) == len(pts) else " (%d of %d feasible)" % (len(ok), len(pts))))
        print("| %g | %s |" % (sweep['beta'], " | ".join(cells)))


def margins(d):
    r = d['result']
    print("Primal-dual step η tuned on seed %d at margin %.2f: %s → η = %g." % (r['tuningSeed'], r['tuningMargin'], ", ".join(
        "η %g misses by %.3f" % (t['eta'], t['scoredMissLastTwoBatches']) for t in r['primalDualTuning']), r['primalDualEta']))
    print()
    methods = [m for m in ('MoCAN', 'PeCAN', 'one-shot', 'iterative', 'primal-dual') if any(m in run for run in r['runs'])]
    print("| margin | method | final λ (PeCAN: in its implicit utility's units) | true harmless | true reward | win rate vs π_ref "
          "| KL (nats) | final policy meets the margin |")
    print("|---|---|---|---|---|---|---|---|")
    agg = defaultdict(list)
    for run in r['runs']:
        for m in methods:
            if m in run:
                agg[(run['margin'], m)].append(run[m][-1])
    for (b, m), v in sorted(agg.items(), key=lambda kv: (kv[0][0], methods.index(kv[0][1]))):
        print("| %.2f | %s | %s | %s | %s | %s | %s | %d of %d |" % (b, m, spread(x['lambda']['harmless'] for x in v),
              spread(x['policy']['trueHarmless'] for x in v), spread(x['policy']['trueReward'] for x in v),
              spread(x['policy']['winRate'] for x in v) if all('winRate' in x['policy'] for x in v) else "—",
              spread((x['policy']['kl'] for x in v), "%.1f"), sum(x['policy']['trueHarmless'] >= b for x in v), len(v)))
    hws = [max(x['policy'].get('trueHarmlessHalfWidth', 0), x['policy'].get('trueRewardHalfWidth', 0))
           for v in agg.values() for x in v]
    if any(hws):
        print()
        print("Largest 95 %% half-width of a final policy's true harmlessness or reward: %.3f." % max(hws))
    if 'iterativeHeadroom' not in r:
        return
    print()
    print("Iterative versions after the warm start (t ≥ 1), each on its own held-out sample; λ aims at the margin + %.2f:"
          % r['iterativeHeadroom'])
    print()
    print("| margin | seed | λ(0) … λ(T) | true harmless of versions 0 … T | meets the margin (t ≥ 1) |")
    print("|---|---|---|---|---|")
    met = total = 0
    for run in r['runs']:
        if 'iterative' not in run:
            continue
        path = run['iterative']
        ok = sum(p['policy']['trueHarmless'] >= run['margin'] for p in path[1:])
        met += ok
        total += len(path) - 1
        print("| %.2f | %d | %s | %s | %d of %d |" % (run['margin'], run['seed'],
              ", ".join("%.3f" % p['lambda']['harmless'] for p in path),
              ", ".join("%.3f" % p['policy']['trueHarmless'] for p in path), ok, len(path) - 1))
    print()
    print("All iterative versions after the warm start: %d of %d meet the true margin." % (met, total))


def multi(d):
    r = d['result']
    print("Margins: harmless ≥ %.2f, humour ≥ %.2f." % (r['margins']['harmless'], r['margins']['humour']))
    print()
    print("| t | λ harmless | λ humour | true harmless | true humour | true reward |")
    print("|---|---|---|---|---|---|")
    runs = [x for x in r['runs'] if 'iterative' in x]
    for t in range(len(runs[0]['iterative'])):
        pts = [x['iterative'][t] for x in runs]
        print("| %d | %s | %s | %s | %s | %s |" % (t, spread(p['lambda']['harmless'] for p in pts),
              spread(p['lambda']['humour'] for p in pts), spread(p['policy']['trueHarmless'] for p in pts),
              spread(p['policy']['trueHumour'] for p in pts), spread(p['policy']['trueReward'] for p in pts)))
    print()
    print("Reference (pool): true harmless %s, true humour %s." % (spread(x['reference']['trueHarmless'] for x in r['runs']),
          spread(x['reference']['trueHumour'] for x in r['runs'])))
    bad = [x['seed'] for x in r['runs'] if 'infeasible' in x]
    if bad:
        print("Infeasible (no λ ≤ λ_max meets both margins on the reference's samples): seeds %s." % bad)


def nu(d):
    r = d['result']
    print("| size | ν = KL(π_θ(λ*)‖π_λ*) | TV | λ* | λ_p* | \\|λ_p* − λ*\\| | objective O_p / O* | E ĝ of π_θ(λ*) (margin %.2f) |"
          % r['margin'])
    print("|---|---|---|---|---|---|---|---|")
    by = defaultdict(list)
    for run in r['runs']:
        by[run['size']].append(run)
    for size in [s['name'] for s in r['sizes']]:
        v = by[size]
        print("| %s | %s | %s | %s | %s | %s | %.3f / %.3f | %s |" % (size, spread(x['nu'] for x in v),
              spread(x['tv'] for x in v), spread(x['lambdaStar'] for x in v), spread(x['lambdaP'] for x in v),
              spread(abs(x['lambdaP'] - x['lambdaStar']) for x in v), st.mean(x['objectiveP'] for x in v),
              st.mean(x['objectiveStar'] for x in v), spread(x['constraintAtLambdaStar'] for x in v)))
    flags = [(x['size'], x['seed']) for x in r['runs'] if x.get('unbracketed') or x.get('notBinding')]
    if flags:
        print()
        print("Not bracketed or not binding (λ_p* is then the nearest λ tried, or 0): %s." % flags)

def policy_step(d):
    """Each variant of the policy step, round by round, against π_λ at the same λ."""
    print("| seed | λ | variant | round | true reward (/ π_λ's) | true harmless (− π_λ's) | KL (nats) | held-out loss before → kept |")
    print("|---|---|---|---|---|---|---|---|")
    for s in d['result']['seeds']:
        for p in s['points']:
            for r in p['rounds']:
                print("| %d | %.2f | %s | %d | %.3f (%.3f) | %.3f (%+.3f) | %.2f | %.3f → %.3f |" % (s['seed'], p['lambda'],
                      p['variant'], r['round'], r['trueReward'], r['rewardRatio'], r['trueHarmless'], r['harmlessGap'],
                      r['kl'], r['heldOutLossBefore'], r['heldOutLoss']))
    s = d['result']['seeds'][0]
    p = s['points'][0]
    print()
    print("π_λ at λ = %.2f (600 prompts × 32 π_ref responses): true reward %.3f ± %.3f, true harmless %.3f ± %.3f, KL %.2f; "
          "π_ref (held out): true reward %.3f ± %.3f, true harmless %.3f ± %.3f." % (p['lambda'], p['tiltReward'],
          p['tiltRewardHalfWidth'], p['tiltHarmless'], p['tiltHarmlessHalfWidth'], p['tiltKl'], s['reference']['trueReward'],
          s['reference']['trueRewardHalfWidth'], s['reference']['trueHarmless'], s['reference']['trueHarmlessHalfWidth']))


def provenance(d):
    """The line above each table: the commit the run was built from, and "dirty" when its tree had changes."""
    p = d.get('provenance')
    if not p or not p.get('commit'):
        return "Commit: not recorded."
    commit = p['commit']
    short = commit[:12] if commit != 'unknown' else 'unknown'
    dirty = p.get('dirty')
    state = " (dirty)" if dirty is True else (" (dirty: unknown)" if dirty == 'unknown' else "")
    return "Commit: `%s`%s." % (short, state)


if __name__ == '__main__':
    name = sys.argv[1]
    folder = sys.argv[2] if len(sys.argv) > 2 else 'docs/experiments'
    doc = json.load(open('%s/%s.json' % (folder, 'canary' if name == 'canary-hold' else name)))
    print(provenance(doc))
    print()
    {'canary': canary, 'canary-hold': canary_hold, 'lambda-ci': lambda_ci, 'oneshot-bias': oneshot_bias, 'tradeoff': tradeoff, 'margins': margins,
     'multi': multi, 'nu': nu, 'policy-step': policy_step}[name](doc)
