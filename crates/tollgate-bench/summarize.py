#!/usr/bin/env python3
"""Markdown table of a run.sh results.tsv: medians per scenario and server, ratios to no-auth and
to the plain jsonwebtoken middleware. Usage: summarize.py results.tsv"""
import csv
import statistics
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
order = ["noauth", "sig-only", "tollgate", "tollgate-nocache", "plain", "jwt-authorizer", "axum-jwt-auth"]
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
runs = {}
for r in rows:
    runs.setdefault((r["scenario"], r["mode"]), []).append(r)


def med(sc, mode, col):
    rs = runs.get((sc, mode))
    return statistics.median(float(r[col]) for r in rs) if rs else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def user(sc, mode):
    rs = runs.get((sc, mode))
    if not rs or any(not r.get("user_us_per_req") for r in rs):
        return None
    return statistics.median(float(r["user_us_per_req"]) for r in rs)


print("| scenario | server | req/s | x no-auth | x plain | x jwt-authorizer | p50 us | p99 us "
      "| CPU us/req | user CPU us/req | capacity x no-auth | capacity x plain "
      "| capacity x jwt-authorizer | runs | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in scenarios:
    base, plain, jwta = (med(sc, m, "rps") for m in ("noauth", "plain", "jwt-authorizer"))
    base_cpu, plain_cpu, jwta_cpu = (med(sc, m, "cpu_us_per_req")
                                     for m in ("noauth", "plain", "jwt-authorizer"))
    for mode in order:
        rps = med(sc, mode, "rps")
        if rps is None:
            continue
        cpu = med(sc, mode, "cpu_us_per_req")
        u = user(sc, mode)
        non2xx = sum(int(r["non2xx"] or 0) for r in runs[(sc, mode)])
        print(f"| {sc} | {mode} | {rps:,.0f} | {ratio(rps, base)} | {ratio(rps, plain)} "
              f"| {ratio(rps, jwta)} "
              f"| {med(sc, mode, 'p50_us'):,.0f} | {med(sc, mode, 'p99_us'):,.0f} | {cpu:.1f} "
              f"| {'-' if u is None else f'{u:.1f}'} "
              f"| {ratio(base_cpu, cpu)} | {ratio(plain_cpu, cpu)} | {ratio(jwta_cpu, cpu)} "
              f"| {len(runs[(sc, mode)])} | {non2xx} |")
