"""The dated public price table (prices.yaml) and the victims' cost estimate built on it.

Two figures, kept apart on purpose so a reader can tell fact from estimate:
- **metered**: tokens the logs actually record (gateway spend logs, Bedrock invocation logs) times
  the list price;
- **estimated**: metered plus requests the logs saw but did not meter (Bedrock calls after the crew
  deleted invocation logging, Azure calls without usage records), each priced at the average tokens
  per metered request of the same model in this workspace.
Models missing from the table are listed, never silently priced at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Price:
    """One row of the price table."""

    id: str
    source: str
    input_per_mtok: float
    output_per_mtok: float
    per_image: float


@dataclass(frozen=True, slots=True)
class PriceTable:
    """The whole table: its date, sources and rows indexed by every model string they match."""

    as_of: str
    currency: str
    sources: dict[str, str]
    by_model: dict[str, Price]

    def lookup(self, model: str) -> Price | None:
        return self.by_model.get(model.strip().lower())


@cache
def price_table() -> PriceTable:
    """Load prices.yaml shipped with the package (read once per process)."""
    text = resources.files("ringbreaker.case").joinpath("prices.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    by_model: dict[str, Price] = {}
    for m in data["models"]:
        p = Price(
            m["id"],
            m["source"],
            float(m.get("input_per_mtok", 0.0)),
            float(m.get("output_per_mtok", 0.0)),
            float(m.get("per_image", 0.0)),
        )
        for alias in [m["id"], *m["match"]]:
            by_model[str(alias).lower()] = p
    return PriceTable(str(data["as_of"]), str(data["currency"]), dict(data["sources"]), by_model)


def estimate(usage: list[dict[str, Any]], averages: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The cost section of case.json from per-model usage (see load.usage_by_model)."""
    table = price_table()
    lines, unpriced = [], []
    total_metered = total_est = 0.0
    for u in usage:
        model = u["model"]
        price = table.lookup(model)
        unmetered = int(u["requests"]) - int(u["metered"])
        if price is None:
            unpriced.append(model)
            lines.append(
                {**_base(u, unmetered), "price_id": None, "usd_metered": None, "usd_estimated": None}
            )
            continue
        if price.per_image:
            metered = est = price.per_image * int(u["requests"])
            basis = f"${price.per_image:.3f} per image"
        else:
            metered = (u["tokens_in"] * price.input_per_mtok + u["tokens_out"] * price.output_per_mtok) / 1e6
            avg_in, avg_out = averages.get(model, (0.0, 0.0))
            est = (
                metered + unmetered * (avg_in * price.input_per_mtok + avg_out * price.output_per_mtok) / 1e6
            )
            basis = f"${price.input_per_mtok:g} in / ${price.output_per_mtok:g} out per 1M tokens"
        total_metered += metered
        total_est += est
        lines.append(
            {
                **_base(u, unmetered),
                "price_id": price.id,
                "price_basis": basis,
                "source_url": table.sources.get(price.source, ""),
                "usd_metered": round(metered, 2),
                "usd_estimated": round(est, 2),
            }
        )
    return {
        "currency": table.currency,
        "price_table_as_of": table.as_of,
        "sources": table.sources,
        "by_model": lines,
        "total_usd_metered": round(total_metered, 2),
        "total_usd_estimated": round(total_est, 2),
        "unpriced_models": unpriced,
        "method": (
            "Metered: tokens recorded in the logs x the list price. Estimated: metered, plus requests the "
            "logs "
            "saw but did not meter, each at the average tokens per metered request of the same model in this "
            "workspace. Image models are priced per request. List prices as of "
            f"{table.as_of}; victims' invoices are the authoritative figure."
        ),
    }


def _base(u: dict[str, Any], unmetered: int) -> dict[str, Any]:
    return {
        "model": u["model"],
        "requests": int(u["requests"]),
        "unmetered_requests": unmetered,
        "tokens_in": int(u["tokens_in"]),
        "tokens_out": int(u["tokens_out"]),
    }
