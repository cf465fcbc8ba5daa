"""The bad-input catalogue (issue 18, item 6) run once, with counts per command and per outcome for RESULTS.md.

    python benchmarks/bad_inputs.py [--workers 4] [--json results_bad_inputs_DATE.json] [--only PREFIX] [-v]

Runs every case of tests/bad_input_cases.py through the installed `organtwin` console script (the same table as
tests/test_bad_inputs.py), each in its own folder under a temporary directory, and prints:
- per command: cases, refused as the catalogue demands, not yet (with the issue-18 item being fixed), wall time;
- per outcome: rc 2 (bad command line), rc 1 (bad input found in the work), warning only (legal but suspicious);
- every case that does not answer as demanded, with what went wrong.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bad_input_cases as B


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None, help="also write the per-case results here")
    ap.add_argument("--only", default="", help="run only the cases whose id starts with one of these (comma-separated)")
    ap.add_argument("--timeout", type=float, default=600.0, help="wall seconds per case")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case's error line")
    args = ap.parse_args()

    cases = [c for c in B.CASES if c.id.startswith(tuple(args.only.split(",")))]

    def done(c, r):
        if args.verbose:
            bad = B.problems(c, r)
            err = next((ln for ln in r.stderr.splitlines() if ln.startswith("organtwin: error:")), "")
            print(
                f"{'ok ' if not bad else 'BAD'} {r.seconds:5.1f}s {r.cpu:5.1f}s CPU rc={r.rc} {c.id}: {err or r.stderr.strip()[-300:]}"
                + ("" if not bad else "\n      -> " + "; ".join(bad)),
                flush=True,
            )

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="organtwin-bad-inputs-") as tmp:
        inputs = B.make_inputs(Path(tmp) / "inputs")
        before = B.tree(inputs)
        results = B.run_all(cases, inputs, Path(tmp) / "cases", workers=args.workers, timeout=args.timeout, done=done)
        inputs_kept = B.tree(inputs) == before
    wall = time.perf_counter() - start

    by_cmd = collections.defaultdict(lambda: [0, 0, 0.0, 0.0])
    by_outcome = collections.Counter()
    failing, records = [], []
    for c in cases:
        r = results[c.id]
        bad = B.problems(c, r)
        by_cmd[c.command][0] += 1
        by_cmd[c.command][1] += not bad
        by_cmd[c.command][2] += r.seconds
        by_cmd[c.command][3] += r.cpu
        by_outcome[c.outcome] += 1
        err = next((ln for ln in r.stderr.splitlines() if ln.startswith("organtwin: error:")), "")
        if bad:
            failing.append((c, r, bad))
        records.append(
            {
                "id": c.id,
                "command": c.command,
                "expected_rc": c.rc,
                "rc": r.rc,
                "ok": not bad,
                "problems": bad,
                "xfail": c.xfail,
                "seconds": round(r.seconds, 2),
                "cpu_s": round(r.cpu, 2),
                "error_line": err,
            }
        )

    print(
        f"\n{len(cases)} bad inputs, {len(cases) - len(failing)} answered as "
        f"demanded, {len(failing)} not yet; wall {wall:.0f} s with {args.workers} workers; "
        f"shared inputs untouched: {inputs_kept}"
    )
    print("\n| command | cases | as demanded | not yet | CPU s (sum) |\n|---|---:|---:|---:|---:|")
    for cmd, (n, ok, _, cpu) in sorted(by_cmd.items()):
        print(f"| `{cmd}` | {n} | {ok} | {n - ok} | {cpu:.0f} |")
    print(
        f"| **all** | {len(cases)} | {len(cases) - len(failing)} | {len(failing)} | "
        f"{sum(v[3] for v in by_cmd.values()):.0f} |"
    )
    print("\n| expected outcome | cases |\n|---|---:|")
    for k, n in sorted(by_outcome.items()):
        print(f"| {k} | {n} |")
    if failing:
        print("\nnot yet as demanded:")
        for c, _r, bad in failing:
            print(
                f"- {c.id} (`organtwin {' '.join(c.argv)}`){' [' + c.xfail + ']' if c.xfail else ''}: " + "; ".join(bad)
            )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
                    "workers": args.workers,
                    "wall_s": round(wall, 1),
                    "cases": records,
                },
                indent=1,
            )
        )
        print(f"\nwrote {args.json}")
    return 0 if not [f for f in failing if not f[0].xfail] else 1


if __name__ == "__main__":
    sys.exit(main())
