"""Catalogue command line (used by the Makefile):

    python -m service_catalogue seed            # migrate, validate, load content/services
    python -m service_catalogue report          # what editors still need to fill or review
    python -m service_catalogue hsds-export OUT # HSDS 3.0 JSON package
    python -m service_catalogue hsds-import FILE

DATABASE_URL selects the database (default: SQLite in .data/). Problems are printed as
one line each (file:line: field: message), never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nlu_components.gazetteer import Gazetteer

if TYPE_CHECKING:
    from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / '.data' / 'rehber.db'}"


def _engine() -> Engine:
    from service_catalogue.db import make_engine, upgrade

    engine = make_engine(os.environ.get("DATABASE_URL", DEFAULT_URL))
    upgrade(engine)
    return engine


def _gazetteer() -> Gazetteer:

    return Gazetteer.from_file(ROOT / "nlu_data" / "lookups" / "gazetteer.yml")


def seed(content_dir: Path) -> int:
    from sqlalchemy.orm import Session

    from service_catalogue.seed import read_catalogue, write_catalogue

    catalogue = read_catalogue(content_dir, _gazetteer())
    if catalogue.errors:
        for error in catalogue.errors:
            print(f"rehber: {error}", file=sys.stderr)
        print(f"rehber: {len(catalogue.errors)} problem(s); nothing was loaded", file=sys.stderr)
        return 2
    engine = _engine()
    with Session(engine) as session:
        counts = write_catalogue(session, catalogue)
        session.commit()
    print(
        f"catalogue: {counts['organizations']} organizations, {counts['services']} services loaded"
        + (
            f", {counts['retired']} no longer in the files marked inactive"
            if counts["retired"]
            else ""
        )
    )
    return 0


def report(content_dir: Path) -> int:
    from service_catalogue.report import content_report

    catalogue_lines = content_report(content_dir, _gazetteer())
    print("\n".join(catalogue_lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service_catalogue", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed")
    commands.add_parser("report")
    export = commands.add_parser("hsds-export")
    export.add_argument("out", type=Path)
    load = commands.add_parser("hsds-import")
    load.add_argument("file", type=Path)
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    args = parser.parse_args(argv)
    if args.command == "seed":
        return seed(args.content)
    if args.command == "report":
        return report(args.content)
    from sqlalchemy.orm import Session

    from service_catalogue import hsds

    engine = _engine()
    with Session(engine) as session:
        if args.command == "hsds-export":
            try:
                count = hsds.export_file(session, args.out)
            except (OSError, ValueError) as error:
                print(f"rehber: could not write {args.out}: {error}", file=sys.stderr)
                return 2
            print(f"hsds: {count} services written to {args.out}")
            return 0
        result = hsds.import_file(session, args.file)
        session.commit()
    for problem in result.problems:
        print(f"rehber: {problem}", file=sys.stderr)
    print(f"hsds: {result.imported} services imported, {len(result.rejected)} rejected")
    nothing_read = result.imported == 0 and not result.rejected and bool(result.problems)
    return 1 if result.rejected or nothing_read else 0


if __name__ == "__main__":
    sys.exit(main())
