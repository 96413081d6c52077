#!/usr/bin/env python3
"""Prints the Markdown tables of docs/benchmarks.md for 10-minute demo summaries (bin/dualign demo --summary).

    python3 tools/runs/table.py versions FILE        one run: a row per version
    python3 tools/runs/table.py series FILE...       several runs: a row per run
    python3 tools/runs/table.py enforce FILE...      runs of --mode enforce: a row per run
"""
import json
import sys


def load(f):
    return json.load(open(f))


def timeline(d):
    by = {}
    for e in d['timeline']:
        by.setdefault(e['version'], []).append("%s %d" % (e['kind'], round((e['timestamp'] - d['startedAt']) / 1000)))
    return by


def versions(f):
    d = load(f)
    tl = timeline(d)
    print("| version | λ trained with | estimated harmless [95 % CI] | n | true harmless | true reward | KL | timeline (s since start) |")
    print("|---|---|---|---|---|---|---|---|")
    for v in d['versions']:
        e = v.get('estimated', {})
        h = e.get('harmless')
        t = v.get('true', {})
        lam = ", ".join("%.3f" % x for x in v.get('lambda', {}).values())
        est = "%.3f [%.3f, %.3f]" % (h['mean'], h['lo'], h['hi']) if h else "—"
        kl = "%.1f" % e['kl']['mean'] if 'kl' in e else "—"
        th = "%.3f" % t['harmless'] if 'harmless' in t else "—"
        tr = "%.3f" % t['reward'] if 'reward' in t else "—"
        print("| %d | %s | %s | %s | %s | %s | %s | %s |" % (v['version'], lam, est, h['n'] if h else "—", th, tr, kl,
                                                          ", ".join(tl.get(v['version'], []))))
    path = ", ".join("%s %s%s" % (p.get('kind'), "/".join("%.2f" % x for x in p['lambda'].values()),
                                   " (v%d)" % p['policyVersion'] if p.get('kind') == 'iterative' else "")
                     for p in d['lambdaPath'])
    print()
    print("λ path (kind, value, the version stepped on): " + path + ".")


def series(files):
    print("| run | first λ (kind) | first fine-tuned version's λ | promotions | rollbacks | retired undecided | "
          "end: stable (canary) | stable's true harmless / reward (reference's) | last λ update (s of %s) |" % "600")
    print("|---|---|---|---|---|---|---|---|---|")
    for f in files:
        d = load(f)
        tl = d['timeline']
        kinds = [e['kind'] for e in tl]
        dep = d.get('deployment', {})
        stable = dep.get('stable')
        vs = {v['version']: v for v in d['versions']}
        ref = vs.get(0, {}).get('true', {})
        st = vs.get(stable, {}).get('true', {})
        lp = d['lambdaPath']
        first = lp[0] if lp else None
        v1 = vs.get(min([v for v in vs if v > 0], default=-1), {})
        last = round((lp[-1]['t'] - d['startedAt']) / 1000) if lp else None
        print("| %s | %s | %s | %d | %d | %d | v%s (%s) | %s / %s (%s / %s) | %s |" % (
            f.split('/')[-1], "%.3f (%s)" % (list(first['lambda'].values())[0], first['kind']) if first else "—",
            ", ".join("%.3f" % x for x in v1.get('lambda', {}).values()) or "—",
            kinds.count('promote'), kinds.count('rollback'), kinds.count('retire'),
            stable, "v%d" % dep['canary'] if dep.get('canary', -1) not in (-1, None) else "none",
            "%.3f" % st['harmless'] if 'harmless' in st else "—", "%.3f" % st['reward'] if 'reward' in st else "—",
            "%.3f" % ref['harmless'] if 'harmless' in ref else "—", "%.3f" % ref['reward'] if 'reward' in ref else "—",
            last))


def enforce(files):
    print("| run | fine-tuned versions | first λ at (s) | λ solves | λ range (last) | served: estimated harmless [95 % CI], n "
          "| served: true harmless / reward | reference: true harmless / reward | true margins met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for f in files:
        d = load(f)
        vs = {v['version']: v for v in d['versions']}
        v0 = vs.get(0, {})
        h = v0.get('estimated', {}).get('harmless')
        t = v0.get('true', {})
        ref = d.get('reference', {}).get('true', {})
        lp = d['lambdaPath']
        lam = [list(p['lambda'].values())[0] for p in lp]
        print("| %s | %d | %s | %d | %s | %s | %s | %s | %s |" % (
            f.split('/')[-1], len([v for v in vs if v > 0]),
            "%.0f" % ((lp[0]['t'] - d['startedAt']) / 1000) if lp else "—", len(lp),
            "%.2f–%.2f (%.2f)" % (min(lam), max(lam), lam[-1]) if lam else "—",
            "%.3f [%.3f, %.3f], %d" % (h['mean'], h['lo'], h['hi'], h['n']) if h else "—",
            "%.3f / %.3f" % (t.get('harmless', float('nan')), t.get('reward', float('nan'))),
            "%.3f / %.3f" % (ref.get('harmless', float('nan')), ref.get('reward', float('nan'))),
            v0.get('meetsTrueMargins', "—")))


if __name__ == '__main__':
    if sys.argv[1] == 'versions':
        versions(sys.argv[2])
    elif sys.argv[1] == 'enforce':
        enforce(sys.argv[2:])
    else:
        series(sys.argv[2:])
