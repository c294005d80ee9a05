#!/usr/bin/env python3
"""SVG bar chart of a run.sh results.tsv, written by hand (no dependency): for each scenario, one
bar per server, the median req/s on the left (with the ratio to no-auth) and the median server
CPU per request on the right (with the ratio to no-auth's; both: longer is not better on the
right). run.sh writes one for every run; commit it next to the tables it illustrates.

Usage: chart.py results.tsv [--scenario NAME]... [--title TEXT] [-o out.svg]
"""
import argparse
import os
import sys
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import load, med, modes_of  # noqa: E402

COLORS = {
    "noauth": "#9e9e9e",
    "sig-only": "#616161",
    "tollgate": "#1565c0",
    "tollgate-before": "#90caf9",
    "tollgate-nocache": "#2e7d32",
    "tollgate-before-nocache": "#a5d6a7",
    "plain": "#ef6c00",
    "jwt-authorizer": "#6a1b9a",
    "axum-jwt-auth": "#c62828",
}
LABELS = {
    "noauth": "no auth",
    "sig-only": "no auth + bare RS256 check",
    "tollgate": "Tollgate",
    "tollgate-before": "Tollgate (before)",
    "tollgate-nocache": "Tollgate, cache off",
    "tollgate-before-nocache": "Tollgate, cache off (before)",
    "plain": "plain jsonwebtoken",
    "jwt-authorizer": "jwt-authorizer",
    "axum-jwt-auth": "axum-jwt-auth",
}
SCENARIOS = {
    "rs256-single": "RS256, one token (cache hits)",
    "rs256-reuse1000": "RS256, 1,000 tokens reused",
    "rs256-pool": "RS256, 100k tokens (every request a miss)",
    "multi-hits": "RS256, one token behind a two-issuer MultiIssuer",
    "zipf": "10,000 users at two issuers, Zipf(1.1) reuse, 5% refused",
    "public": "route outside the layer",
}

LABEL_W, PANEL_W, GAP, ROW_H, HEAD_H, TOP, BOTTOM = 210, 360, 40, 18, 24, 56, 34
VALUE_W = 110  # room right of the longest bar for its label


def chart(path, scenarios, title):
    order, runs = load(path)
    scenarios = scenarios or order
    missing = [s for s in scenarios if s not in order]
    if missing:
        sys.exit(f"{path}: no runs of {', '.join(missing)}")
    groups = []
    for sc in scenarios:
        base_rps, base_cpu = med(runs, sc, "noauth", "rps"), med(runs, sc, "noauth", "cpu_us_per_req")
        bars = []
        for mode in modes_of(runs, sc):
            rps, cpu = med(runs, sc, mode, "rps"), med(runs, sc, mode, "cpu_us_per_req")
            rounds = len(runs[(sc, mode)])
            bars.append((mode, rps, cpu, base_rps, base_cpu, rounds))
        groups.append((sc, bars))
    max_rps = max((b[1] or 0) for _, bars in groups for b in bars) or 1
    max_cpu = max((b[2] or 0) for _, bars in groups for b in bars) or 1
    rows = sum(len(bars) for _, bars in groups)
    width = LABEL_W + 2 * (PANEL_W + VALUE_W) + GAP
    height = TOP + len(groups) * HEAD_H + rows * ROW_H + BOTTOM
    left = LABEL_W
    right = LABEL_W + PANEL_W + VALUE_W + GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15" '
        f'font-weight="bold">{escape(title)}</text>',
        f'<text x="{left}" y="44" font-weight="bold">requests per second (median; x no-auth)</text>',
        f'<text x="{right}" y="44" font-weight="bold">server CPU per request, us (median; '
        f'x no-auth)</text>',
    ]
    y = TOP
    for sc, bars in groups:
        out.append(f'<text x="8" y="{y + 16}" font-weight="bold">'
                   f'{escape(SCENARIOS.get(sc, sc))}</text>')
        out.append(f'<line x1="8" y1="{y + 20}" x2="{width - 8}" y2="{y + 20}" '
                   f'stroke="#ddd"/>')
        y += HEAD_H
        for x in (left, right):
            out.append(f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + len(bars) * ROW_H}" '
                       f'stroke="#888"/>')
        for mode, rps, cpu, base_rps, base_cpu, rounds in bars:
            color = COLORS.get(mode, "#455a64")
            label = LABELS.get(mode, mode)
            out.append(f'<text x="{LABEL_W - 8}" y="{y + 13}" text-anchor="end">'
                       f'{escape(label)}</text>')
            if rps:
                w = rps / max_rps * PANEL_W
                rel = f" ({rps / base_rps:.2f}x)" if base_rps else ""
                out.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 5}" '
                           f'fill="{color}"><title>{escape(label)}: {rps:,.0f} req/s, '
                           f'median of {rounds}</title></rect>')
                out.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}">{rps:,.0f}{rel}</text>')
            if cpu:
                w = cpu / max_cpu * PANEL_W
                rel = f" ({cpu / base_cpu:.2f}x)" if base_cpu else ""
                out.append(f'<rect x="{right}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 5}" '
                           f'fill="{color}"><title>{escape(label)}: {cpu:.1f} us CPU per '
                           f'request, median of {rounds}</title></rect>')
                out.append(f'<text x="{right + w + 4:.1f}" y="{y + 13}">{cpu:.1f}{rel}</text>')
            y += ROW_H
    out.append(f'<text x="8" y="{height - 12}" fill="#555">{escape(os.path.basename(path))}: '
               f'medians over alternating rounds (crates/tollgate-bench/run.sh); '
               f'generated by crates/tollgate-bench/chart.py</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--scenario", action="append", default=[],
                        help="a scenario to draw (repeatable; default: all of the file)")
    parser.add_argument("--title", default="Tollgate HTTP benchmark")
    parser.add_argument("-o", "--output", help="SVG file (default: stdout)")
    args = parser.parse_args()
    svg = chart(args.results, args.scenario, args.title)
    if args.output:
        with open(args.output, "w") as f:
            f.write(svg)
    else:
        sys.stdout.write(svg)


if __name__ == "__main__":
    main()
