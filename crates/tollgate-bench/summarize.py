#!/usr/bin/env python3
"""Markdown tables of a run.sh results.tsv: medians per scenario and server (req/s, latency, CPU
and user CPU per request), ratios to no-auth, to the plain jsonwebtoken middleware, to
jwt-authorizer and, for the Tollgate modes, to the same mode built from BEFORE_REV
(`tollgate-before`); then, when the run has them, Tollgate before/after and the issue 13 targets.

Usage: summarize.py results.tsv

"x" columns are req/s ratios (higher is faster), "capacity x" columns ratios of CPU per request
(other / this: higher is cheaper). Also a module: chart.py reads runs through load() and med().
"""
import csv
import statistics
import sys

ORDER = ["noauth", "handoff", "sig-only", "tollgate", "tollgate-before", "tollgate-nocache",
         "tollgate-before-nocache", "plain", "jwt-authorizer", "axum-jwt-auth"]
# the mode each Tollgate mode is compared with in the "x before" columns
BEFORE = {"tollgate": "tollgate-before", "tollgate-nocache": "tollgate-before-nocache"}


def load(path):
    """(scenarios in run order, {(scenario, mode): [rows]})"""
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    runs = {}
    for r in rows:
        runs.setdefault((r["scenario"], r["mode"]), []).append(r)
    return list(dict.fromkeys(r["scenario"] for r in rows)), runs


def modes_of(runs, sc):
    """The modes of scenario `sc`, in ORDER, then any other in run order."""
    present = [m for (s, m) in runs if s == sc]
    return [m for m in ORDER if m in present] + [m for m in present if m not in ORDER]


def med(runs, sc, mode, col):
    """Median of column `col` over the rounds of (sc, mode); None if absent or not recorded."""
    rs = runs.get((sc, mode))
    if not rs or any(not r.get(col) for r in rs):
        return None
    return statistics.median(float(r[col]) for r in rs)


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def num(v, fmt):
    return "-" if v is None else format(v, fmt)


def main_table(scenarios, runs):
    print("| scenario | server | req/s | x no-auth | x plain | x jwt-authorizer | x before "
          "| p50 us | p99 us | CPU us/req | user CPU us/req | capacity x no-auth "
          "| capacity x plain | capacity x jwt-authorizer | capacity x before | runs | non-2xx |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        base, plain, jwta = (med(runs, sc, m, "rps") for m in ("noauth", "plain", "jwt-authorizer"))
        base_cpu, plain_cpu, jwta_cpu = (med(runs, sc, m, "cpu_us_per_req")
                                         for m in ("noauth", "plain", "jwt-authorizer"))
        for mode in modes_of(runs, sc):
            rps = med(runs, sc, mode, "rps")
            cpu = med(runs, sc, mode, "cpu_us_per_req")
            before = BEFORE.get(mode)
            before_rps = med(runs, sc, before, "rps") if before else None
            before_cpu = med(runs, sc, before, "cpu_us_per_req") if before else None
            non2xx = sum(int(r["non2xx"] or 0) for r in runs[(sc, mode)])
            requests = sum(int(r["requests"] or 0) for r in runs[(sc, mode)])
            share = f" ({100 * non2xx / requests:.1f}%)" if non2xx and requests else ""
            print(f"| {sc} | {mode} | {num(rps, ',.0f')} | {ratio(rps, base)} | {ratio(rps, plain)} "
                  f"| {ratio(rps, jwta)} | {ratio(rps, before_rps)} "
                  f"| {num(med(runs, sc, mode, 'p50_us'), ',.0f')} "
                  f"| {num(med(runs, sc, mode, 'p99_us'), ',.0f')} | {num(cpu, '.1f')} "
                  f"| {num(med(runs, sc, mode, 'user_us_per_req'), '.1f')} "
                  f"| {ratio(base_cpu, cpu)} | {ratio(plain_cpu, cpu)} | {ratio(jwta_cpu, cpu)} "
                  f"| {ratio(before_cpu, cpu)} | {len(runs[(sc, mode)])} | {non2xx}{share} |")


def before_after(scenarios, runs):
    pairs = [(sc, after, before) for sc in scenarios for after, before in BEFORE.items()
             if (sc, after) in runs and (sc, before) in runs]
    if not pairs:
        return
    print()
    print("Tollgate before / after (same rounds; after x before: req/s ratio, and CPU ratio "
          "before / after; higher is better; 'regression' when after costs more than 3% more "
          "CPU per request):")
    print()
    print("| scenario | mode | req/s before | req/s after | x before | CPU us/req before "
          "| CPU us/req after | user CPU before | user CPU after | capacity x before | |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for sc, after, before in pairs:
        rb, ra = med(runs, sc, before, "rps"), med(runs, sc, after, "rps")
        cb, ca = med(runs, sc, before, "cpu_us_per_req"), med(runs, sc, after, "cpu_us_per_req")
        ub, ua = med(runs, sc, before, "user_us_per_req"), med(runs, sc, after, "user_us_per_req")
        flag = "regression" if cb and ca and ca > cb * 1.03 else ""
        print(f"| {sc} | {after} | {num(rb, ',.0f')} | {num(ra, ',.0f')} | {ratio(ra, rb)} "
              f"| {num(cb, '.1f')} | {num(ca, '.1f')} | {num(ub, '.1f')} | {num(ua, '.1f')} "
              f"| {ratio(cb, ca)} | {flag} |")


def targets(runs):
    """Issue 13's targets that this run measured: (target, measured, met) rows."""
    def rps(sc, m):
        return med(runs, sc, m, "rps")

    def cpu(sc, m):
        return med(runs, sc, m, "cpu_us_per_req")

    def at_least(a, b, bound):
        if not a or not b:
            return None
        return a / b, a / b >= bound

    out = []
    for sc, label, bound in (("rs256-single", "cache hits (one token) >= 0.97x no-auth", 0.97),
                             ("rs256-reuse1000", "1,000 tokens reused >= 0.93x no-auth", 0.93)):
        r = at_least(rps(sc, "tollgate"), rps(sc, "noauth"), bound)
        if r:
            out.append((label, f"{r[0]:.2f}x req/s (capacity "
                               f"{ratio(cpu(sc, 'noauth'), cpu(sc, 'tollgate'))}x)", r[1]))
    r = at_least(rps("rs256-reuse1000", "tollgate"), rps("rs256-reuse1000", "plain"), 2.5)
    if r:
        out.append(("1,000 tokens reused >= 2.5x plain jsonwebtoken", f"{r[0]:.2f}x req/s", r[1]))
    sc = "rs256-pool"
    t, floor = cpu(sc, "tollgate"), cpu(sc, "sig-only")
    if t and floor:
        out.append(("uncached RS256 CPU <= no-auth + bare signature (sig-only) + 1.5 us",
                    f"{t:.1f} us vs sig-only {floor:.1f} us: {t - floor:+.1f} us", t <= floor + 1.5))
    for peer, bound in (("plain", 1.15), ("jwt-authorizer", 1.3)):
        r = at_least(rps(sc, "tollgate"), rps(sc, peer), bound)
        if r:
            out.append((f"uncached RS256 >= {bound}x {peer}",
                        f"{r[0]:.2f}x req/s (capacity {ratio(cpu(sc, peer), cpu(sc, 'tollgate'))}x)",
                        r[1]))
    single = at_least(cpu("rs256-single", "noauth"), cpu("rs256-single", "tollgate"), 0)
    multi = at_least(cpu("multi-hits", "noauth"), cpu("multi-hits", "tollgate"), 0)
    if single and multi:
        out.append(("MultiIssuer cache hits cost the same as single-issuer hits",
                    f"capacity x no-auth {multi[0]:.2f} (multi) vs {single[0]:.2f} (single); "
                    f"CPU {cpu('multi-hits', 'tollgate'):.1f} vs {cpu('rs256-single', 'tollgate'):.1f} us",
                    multi[0] >= single[0] * 0.97))
    return out


def targets_table(runs):
    rows = targets(runs)
    if not rows:
        return
    print()
    print("Issue 13 targets measured in this run:")
    print()
    print("| target | measured | met? |")
    print("|---|---|---|")
    for label, measured, met in rows:
        print(f"| {label} | {measured} | {'**yes**' if met else '**no**'} |")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    scenarios, runs = load(sys.argv[1])
    main_table(scenarios, runs)
    before_after(scenarios, runs)
    targets_table(runs)


if __name__ == "__main__":
    main()
