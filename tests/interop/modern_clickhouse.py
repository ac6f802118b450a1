"""Runs our ClickHouse SQL on a current ClickHouse engine (chdb, the
embedded ClickHouse from PyPI) and compares the results with what the local
ClickHouse 18.16 returned for the same data.

usage: modern_clickhouse.py JOB.json

JOB.json (written by services/reporter/tests/modern_clickhouse.rs):
  {"workdir": "...", "migrations": ["schemas/clickhouse/001_tables.sql", ...],
   "tables": {"submissions": "/tmp/.../submissions.tsv", ...},
   "queries": [{"id": "Q1", "sql": "...", "expected": "tab-separated rows"}]}

The migrations run unchanged (as the service runs them); the fact tables
are filled from 18.16's dump, so the materialised views fire as they would
in production; every query must be accepted and return the same rows
(floats within 1e-4 relative).
"""
import json
import shutil
import sys

import chdb
from chdb import session


def statements(sql):
    out, cur = [], []
    for line in sql.splitlines():
        t = line.strip()
        if not t or t.startswith("--"):
            continue
        cur.append(line)
        if t.endswith(";"):
            out.append("\n".join(cur).strip().rstrip(";"))
            cur = []
    if "".join(cur).strip():
        out.append("\n".join(cur).strip())
    return out


def cells_equal(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-4 * max(1.0, abs(x), abs(y))


def rows(text):
    return sorted(line.split("\t") for line in text.splitlines() if line != "")


def same(expected, got):
    e, g = rows(expected), rows(got)
    if len(e) != len(g):
        return False
    return all(len(r) == len(s) and all(cells_equal(x, y) for x, y in zip(r, s)) for r, s in zip(e, g))


def main():
    job = json.load(open(sys.argv[1]))
    shutil.rmtree(job["workdir"], ignore_errors=True)
    s = session.Session(job["workdir"])
    version = s.query("SELECT version()", "TabSeparatedRaw").bytes().decode().strip()
    s.query("CREATE DATABASE IF NOT EXISTS cisp")
    s.query("USE cisp")
    for path in job["migrations"]:
        for st in statements(open(path).read()):
            try:
                s.query(st)
            except Exception as e:  # noqa: BLE001 - report which statement
                print(f"ClickHouse {version} refused a statement of {path}: {e}\n{st}")
                return 1
    for table, path in job["tables"].items():
        cols = s.query(
            f"SELECT name, type FROM system.columns WHERE database = 'cisp' AND table = '{table}' "
            "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') ORDER BY position",
            "TabSeparatedRaw",
        ).bytes().decode()
        structure = ", ".join(" ".join(line.split("\t")) for line in cols.splitlines())
        s.query(f"INSERT INTO {table} SELECT * FROM file('{path}', 'TabSeparated', '{structure}')")
    failures = 0
    for q in job["queries"]:
        try:
            got = s.query(q["sql"], "TabSeparatedRaw").bytes().decode()
        except Exception as e:  # noqa: BLE001
            print(f"{q['id']}: ClickHouse {version} refused it: {e}\n{q['sql']}")
            failures += 1
            continue
        if not same(q["expected"], got):
            print(f"{q['id']}: results differ\n{q['sql']}\n-- 18.16:\n{q['expected']}\n-- {version}:\n{got}")
            failures += 1
    print(f"ClickHouse {version} (chdb {chdb.__version__}): {len(job['queries'])} queries, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
