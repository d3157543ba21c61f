"""dnsperf's report, read: the one home of its fields (the harness's and the labs' runs).

    res = parse(out)    # {"sent", "completed", "lost", "qps", "rcodes": {"NOERROR": n}}
"""
from __future__ import annotations

import re

FIELDS = {"sent": r"Queries sent:\s+(\d+)", "completed": r"Queries completed:\s+(\d+)",
          "lost": r"Queries lost:\s+(\d+)", "qps": r"Queries per second:\s+([\d.]+)"}


def parse(out: str) -> dict:
    res: dict = {}
    for k, rx in FIELDS.items():
        m = re.search(rx, out)
        if not m:
            raise RuntimeError(f"cannot read dnsperf output:\n{out}")
        res[k] = float(m.group(1))
    # "Response codes: NOERROR 500 (50.00%), NXDOMAIN 500 (50.00%)" -> {"NOERROR": 500, ...}
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = {c: int(n) for c, n in re.findall(r"(\w+) (\d+) \(", m.group(1))} \
        if m else {}
    return res
