#!/usr/bin/env python
"""Render the HTML report in headless Chromium, take screenshots and fail on errors or missing figures.

    snakemake --report results/report.html
    python tools/render_report.py results/report.html --out results/report_screens --figures

Exit status 1 (with the problems listed) when the page raises a JavaScript error, an
embedded figure does not display, an expected result is missing, or the first screen
lacks an expected text. Needs Debian's chromium (apt-get install -y chromium).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report_check.py beside this script
from report_check import ReportError, check_report  # noqa: E402

DEFAULT_TEXT = ["Does Proxy Attention help?"]
DEFAULT_FILES = ["comparison.html", "paired_differences.svg", "heatmap.svg", "confusion.svg",
                 "learning_curves.svg", "proxy_counts.svg", "classes.svg", "runtime.svg", "comparison.csv", "runs.csv"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="the report, e.g. results/report.html")
    ap.add_argument("--out", help="folder for screenshots (first_screen.png, figures/*.png)")
    ap.add_argument("--figures", action="store_true", help="also screenshot every figure as the report shows it")
    ap.add_argument("--expect-text", action="append", help="text the first screen must contain (repeatable)")
    ap.add_argument("--expect-file", action="append", help="result file name the report must embed (repeatable)")
    ap.add_argument("--size", default="1440x900", help="window size WxH")
    args = ap.parse_args(argv)
    try:
        res = check_report(args.report, args.out, args.expect_text or DEFAULT_TEXT, args.expect_file or DEFAULT_FILES,
                           figures=args.figures, size=tuple(int(v) for v in args.size.split("x")))
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(res.images)} images displayed; screenshots: {', '.join(map(str, res.screenshots)) or 'none'}")
    for p in res.problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if res.problems else 0


if __name__ == "__main__":
    sys.exit(main())
