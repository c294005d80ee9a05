#!/usr/bin/env python3
"""Markdown table of a run.sh results.tsv: medians per scenario and server, ratios to no-auth and
to the plain jsonwebtoken middleware. Usage: summarize.py results.tsv"""
import csv
import statistics
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
order = ["noauth", "tollgate", "tollgate-nocache", "plain", "jwt-authorizer", "axum-jwt-auth"]
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
runs = {}
for r in rows:
    runs.setdefault((r["scenario"], r["mode"]), []).append(r)


def med(sc, mode, col):
    rs = runs.get((sc, mode))
    return statistics.median(float(r[col]) for r in rs) if rs else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


print("| scenario | server | req/s | x no-auth | x plain | p50 us | p99 us | CPU us/req "
      "| capacity req/s/core | capacity x no-auth | capacity x plain | runs | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in scenarios:
    base, plain = med(sc, "noauth", "rps"), med(sc, "plain", "rps")
    base_cpu, plain_cpu = med(sc, "noauth", "cpu_us_per_req"), med(sc, "plain", "cpu_us_per_req")
    for mode in order:
        rps = med(sc, mode, "rps")
        if rps is None:
            continue
        cpu = med(sc, mode, "cpu_us_per_req")
        non2xx = sum(int(r["non2xx"] or 0) for r in runs[(sc, mode)])
        cap = 1e6 / cpu
        print(f"| {sc} | {mode} | {rps:,.0f} | {ratio(rps, base)} | {ratio(rps, plain)} "
              f"| {med(sc, mode, 'p50_us'):,.0f} | {med(sc, mode, 'p99_us'):,.0f} | {cpu:.1f} "
              f"| {cap:,.0f} | {ratio(base_cpu, cpu)} | {ratio(plain_cpu, cpu)} "
              f"| {len(runs[(sc, mode)])} | {non2xx} |")
