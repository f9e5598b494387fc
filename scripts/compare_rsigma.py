#!/usr/bin/env python3
"""Side by side: killchain hunt and rsigma 0.23 `rule backtest` over the same
EVTX corpus and Sigma rules; wall time, peak RSS, and fires per rule.

    python3 scripts/compare_rsigma.py --rsigma /path/to/rsigma \
        [--killchain target/release/killchain] \
        [--corpus ../shared/data/evtx/EVTX-to-MITRE-Attack] \
        [--rules ../shared/data/sigma/rules/windows] [--runs 3]

rsigma is installed with `cargo install --locked rsigma --version 0.23.0
--features evtx`. Its backtest has no logsource routing (the engine's
--logsource-routing needs product / service / category fields in each
event, which EVTX records lack), so every rule meets every event; events are
flattened with a jq filter (System, EventData and UserData fields at the top,
as killchain's flattening does). docs/benchmarks.md has the results and the
reconciliation of the per-rule differences.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

JQ = (
    '(.Event.System | del(.Provider, .EventID, .TimeCreated, .Execution, .Security, .Correlation))'
    ' + {EventID: (.Event.System.EventID | if type=="object" then .["#text"] else . end),'
    ' Provider_Name: .Event.System.Provider["#attributes"].Name}'
    ' + ((.Event.EventData // {}) | if type=="object" then . else {} end)'
    ' + ((.Event.UserData // {}) | if type=="object" then'
    ' ([to_entries[] | .value | select(type=="object")] | add // {}) else {} end)'
)


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (wall s, peak KB)."""
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M"] + cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = r.stderr.strip().splitlines()[-1].split()
    return float(last[0]), int(last[1])


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shared = os.path.join(os.path.dirname(root), "shared", "data")
    ap = argparse.ArgumentParser()
    ap.add_argument("--rsigma", required=True)
    ap.add_argument("--killchain", default=os.path.join(root, "target/release/killchain"))
    ap.add_argument("--corpus", default=os.path.join(shared, "evtx/EVTX-to-MITRE-Attack"))
    ap.add_argument("--rules", default=os.path.join(shared, "sigma/rules/windows"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kc-vs-rsigma-")
    kc_out = os.path.join(tmp, "killchain.ndjson")
    rs_report = os.path.join(tmp, "rsigma-report.json")
    kc_cmd = [a.killchain, "hunt", a.corpus, "--rules", a.rules, "-j", str(a.threads),
              "--no-progress", "--summary", "none", "-o", kc_out]
    rs_cmd = [a.rsigma, "rule", "backtest", "-r", a.rules, "--corpus", a.corpus, "--jq", JQ,
              "--unexpected", "ignore", "-q", "--report", rs_report]
    env_threads = {"RAYON_NUM_THREADS": str(a.threads)}
    os.environ.update(env_threads)
    times = {"killchain": [], "rsigma": []}
    for _ in range(a.runs):  # alternate, so both see the same machine state
        times["killchain"].append(timed(kc_cmd))
        times["rsigma"].append(timed(rs_cmd))
    for tool, t in times.items():
        walls = sorted(x[0] for x in t)
        rss = max(x[1] for x in t) / 1024
        print(f"{tool:10} wall {walls[0]:.2f} - {walls[-1]:.2f} s, peak RSS {rss:.0f} MB ({a.threads} threads)")

    kc = collections.Counter()
    titles = {}
    with open(kc_out) as f:
        for line in f:
            d = json.loads(line)
            rid = d["rule"]["id"]
            kc[rid] += 1
            titles[rid] = d["rule"]["name"]
    with open(rs_report) as f:
        report = json.load(f)
    rs = {r["rule_id"]: r for r in report["rules"]}
    for rid, r in rs.items():
        titles.setdefault(rid, r["rule_title"])
    print(f"killchain: {sum(kc.values())} findings from {len(kc)} rules; "
          f"rsigma: {sum(r['fires'] for r in rs.values())} fires from {len(rs)} rules "
          f"({report['summary']['events_processed']} events, {report['summary']['corpus_files']} files)")
    both = set(kc) & set(rs)
    same = [k for k in both if kc[k] == rs[k]["fires"]]
    print(f"rules firing on both: {len(both)}, same count: {len(same)}")
    rows = []
    for k in set(kc) | set(rs):
        a_, b_ = kc.get(k, 0), rs[k]["fires"] if k in rs else 0
        if a_ != b_:
            ls = rs[k]["logsource"] if k in rs else {}
            rows.append((abs(a_ - b_), a_, b_, titles[k], ls))
    rows.sort(key=lambda r: (-r[0], r[3]))
    print(f"{'killchain':>9} {'rsigma':>7}  rule")
    for _, a_, b_, t, ls in rows:
        print(f"{a_:>9} {b_:>7}  {t}  {json.dumps(ls) if ls else ''}")


if __name__ == "__main__":
    sys.exit(main())
