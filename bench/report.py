"""The figures of the last runs as a Markdown table (pasted into docs/benchmarks.md):
``python -m bench.report``."""

import json

from bench.run import OUT


def load(db: str) -> dict:
    path = OUT / f"results-{db}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    runs = {db: load(db) for db in ("sqlite", "postgres")}
    keyed = {
        db: {(r["group"], r["name"], r["role"]): r for r in run.get("results", [])}
        for db, run in runs.items()
    }
    order = list(dict.fromkeys(k for rows in keyed.values() for k in rows))
    print("| what | role | target p95 | SQLite p50 / p95 ms | PostgreSQL p50 / p95 ms |")
    print("|---|---|---|---|---|")
    for key in order:
        cells = []
        target = None
        for db in ("sqlite", "postgres"):
            r = keyed[db].get(key)
            if r is None:
                cells.append("–")
                continue
            target = r["target_p95_ms"]
            mark = "" if r["meets_target"] else " ✗"
            cells.append(f"{r['p50_ms']:.1f} / **{r['p95_ms']:.1f}**{mark}")
        group, name, role = key
        print(f"| {group}: {name} | {role} | < {target:.0f} ms | {cells[0]} | {cells[1]} |")
    print()
    for db, run in runs.items():
        imp = run.get("import")
        if imp:
            print(
                f"- {db}: {imp['rows']:,} rows; dry run {imp['check_rows_per_s']:,} rows/s; "
                f"import (check + write) {imp['commit_rows_per_s']:,} rows/s "
                f"({imp['commit_seconds']} s); whole flow {imp['total_rows_per_s']:,} rows/s; "
                f"status {imp['status']}, created {imp['created']:,}"
            )


if __name__ == "__main__":
    main()
