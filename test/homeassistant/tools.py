"""What the test harness asks Home Assistant's own Python for (run with the venv's python).

  tools.py integrations        the integrations HA sets up whatever its configuration says
  tools.py query DB SQL [ARG]  rows of a read-only query on the recorder's SQLite file, as JSON

Only reads: the harness decides everything else in TypeScript.
"""

import json
import sqlite3
import sys


def integrations() -> None:
    # bootstrap's sets are what HA adds to every configuration (outside recovery mode)
    from homeassistant import bootstrap

    domains = set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS)
    print(json.dumps(sorted(domains)))


def query(db: str, sql: str, args: list[str]) -> None:
    # read-only, so HA's writer is never blocked or surprised; WAL lets us read while it writes
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    connection.row_factory = sqlite3.Row
    try:
        rows = [dict(row) for row in connection.execute(sql, args)]
    finally:
        connection.close()
    print(json.dumps(rows, default=lambda value: value.hex() if isinstance(value, bytes) else str(value)))


def main() -> int:
    match sys.argv[1:]:
        case ["integrations"]:
            integrations()
        case ["query", db, sql, *args]:
            query(db, sql, args)
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
