"""Catalogue benchmarks (app virtualenv): `make bench-catalogue`.

- service search latency (p50/p95/p99) with generated catalogues of 500, 5,000 and 50,000
  services (generated here, never shipped), on SQLite and PostgreSQL;
- referral ticket creation latency on PostgreSQL (and SQLite).
Random queries: a category, a district, a language, as the search action sends them.
Results: printed and written to reports/bench_catalogue.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu_components.gazetteer import Gazetteer  # noqa: E402
from service_catalogue.db import make_engine, upgrade  # noqa: E402
from service_catalogue.models import (  # noqa: E402
    Language,
    Location,
    Organization,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceAttribute,
)
from service_catalogue.search import FactsIndex, Query, search  # noqa: E402
from service_catalogue.seed import ensure_taxonomy  # noqa: E402
from service_catalogue.taxonomy import CATEGORY_CODES  # noqa: E402
from service_catalogue.tickets import create_ticket, now  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.5), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def districts() -> list[tuple[str, str]]:
    gazetteer = Gazetteer.from_file(ROOT / "nlu_data" / "lookups" / "gazetteer.yml")
    return [(e.value, str(e.extra["city"])) for e in gazetteer.values("district").values()]


def generate(session: Session, count: int, rng: random.Random) -> None:
    """``count`` services spread over 50 organizations, all districts and categories."""
    places = districts()
    ensure_taxonomy(session)
    orgs = [{"id": f"org-{i}", "name": {"tr": f"Kurum {i}"}, "description": {}, "i18n_status": {},
             "unknown": []} for i in range(50)]  # fmt: skip
    session.execute(insert(Organization), orgs)
    rows: dict[type, list[dict[str, Any]]] = {
        Location: [], Service: [], ServiceArea: [], ServiceAtLocation: [], ServiceAttribute: [],
        Language: [], Schedule: [],
    }  # fmt: skip
    for i in range(count):
        sid = f"svc-{i}"
        district, city = rng.choice(places)
        rows[Location].append({
            "id": f"loc-{i}", "organization_id": f"org-{i % 50}", "name": {"tr": f"Yer {i}"},
            "description": {}, "district": district, "city": city, "latitude": 40 + rng.random(),
            "longitude": 28 + rng.random(), "coordinates_source": "exact", "i18n_status": {},
            "unknown": [], "location_type": "physical",
        })  # fmt: skip
        rows[Service].append({
            "id": sid, "organization_id": f"org-{i % 50}",
            "name": {"tr": f"Hizmet {i}", "ar": "خدمة"},
            "description": {"tr": "Açıklama"}, "status": "active", "eligibility": {},
            "fees_description": {}, "cost": rng.choice(["free", "unknown"]),
            "interpreters": rng.random() < 0.3, "i18n_status": {}, "unknown": [],
        })  # fmt: skip
        area = city if rng.random() < 0.2 else district
        rows[ServiceArea].append({"id": f"{sid}-a", "service_id": sid, "name": area, "city": city})
        rows[ServiceAtLocation].append(
            {"id": f"{sid}@l", "service_id": sid, "location_id": f"loc-{i}"}
        )
        for n, category in enumerate(rng.sample(CATEGORY_CODES, rng.choice([1, 1, 2]))):
            rows[ServiceAttribute].append(
                {"id": f"{sid}#{n}", "service_id": sid, "taxonomy_term_id": f"category:{category}"}
            )
        for code in rng.sample(["tr", "ar", "fa", "en"], rng.choice([1, 2])):
            rows[Language].append({"id": f"{sid}-{code}", "service_id": sid, "code": code})
        if rng.random() < 0.5:
            rows[Schedule].append({
                "id": f"{sid}-h", "service_id": sid, "freq": "WEEKLY", "byday": "MO,TU,WE,TH,FR",
                "opens_at": "09:00", "closes_at": "17:00", "timezone": "Europe/Istanbul",
                "description": {},
            })  # fmt: skip
    for model in (
        Location,
        Service,
        ServiceArea,
        ServiceAtLocation,
        ServiceAttribute,
        Language,
        Schedule,
    ):
        for start in range(0, len(rows[model]), 5000):
            session.execute(insert(model), rows[model][start : start + 5000])
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))  # what autovacuum does for a real catalogue
        session.commit()


def measure_search(
    session: Session, queries: int, rng: random.Random, index: FactsIndex | None = None
) -> dict[str, float]:
    places = districts()
    samples = []
    for _ in range(queries):
        district, city = rng.choice(places)
        query = Query(
            category=rng.choice(CATEGORY_CODES), district=district, city=city,
            language=rng.choice(["ar", "fa", "tr", "en"]),
        )  # fmt: skip
        started = time.perf_counter()
        search(session, query, index=index)
        samples.append(time.perf_counter() - started)
        session.expunge_all()
    return percentiles(samples)


def measure_tickets(session: Session, count: int) -> dict[str, float]:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        create_ticket(
            session, conversation_id=f"telegram:{i}", channel="telegram", language="ar",
            description="أحتاج محامي لقضية إيجار في عثمان غازي", consent_at=now(),
            category="legal_aid",
        )  # fmt: skip
        session.commit()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def database(kind: str, workdir: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}", None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", (admin, schema)


def drop(cleanup: Any) -> None:
    if cleanup is None:
        return
    admin, schema = cleanup
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000,50000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_catalogue.json")
    args = parser.parse_args()
    rng = random.Random(7)
    report: dict[str, Any] = {"search": {}, "search_indexed": {}, "tickets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            for size in [int(s) for s in args.sizes.split(",")]:
                url, cleanup = database(kind, Path(tmp))
                engine = make_engine(url)
                try:
                    upgrade(engine)
                    with Session(engine) as session:
                        started = time.perf_counter()
                        generate(session, size, rng)
                        generated = time.perf_counter() - started
                        result = measure_search(session, args.queries, rng)
                        # The action server's way: ranking facts from an in-memory snapshot
                        # (re-read every 30 s); the first search pays for reading it.
                        index = FactsIndex(max_age_seconds=3600)
                        started = time.perf_counter()
                        index.snapshot(session)
                        snapshot_s = time.perf_counter() - started
                        indexed = measure_search(session, args.queries, rng, index)
                    result["generate_s"] = round(generated, 1)
                    indexed["snapshot_load_ms"] = round(snapshot_s * 1000, 1)
                    report["search"][f"{kind}_{size}"] = result
                    report["search_indexed"][f"{kind}_{size}"] = indexed
                    print(kind, size, json.dumps(result), flush=True)
                    print(kind, size, "indexed", json.dumps(indexed), flush=True)
                    if size == 5000:
                        with Session(engine) as session:
                            report["tickets"][kind] = measure_tickets(session, args.tickets)
                        print(kind, "tickets", json.dumps(report["tickets"][kind]), flush=True)
                finally:
                    engine.dispose()
                    drop(cleanup)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
