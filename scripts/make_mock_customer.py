"""Write the relational demo dataset to data/mock_customer/ (committed; regenerate with this script).

featuretools' ``load_mock_customer`` generates customers, sessions, transactions and products
locally (no download). The prediction task added here: at a cutoff time two thirds into the data's time span, will
the customer be a *heavy buyer* over the rest of it (at least the median number of
transactions after the cutoff)? Features may only use data from before the cutoff; without the
cutoff, counts over the whole span would leak the answer.

The mock generator draws each session's customer uniformly, so nothing about a customer
persists over time and no target would be predictable. Here each customer gets a visit rate
(gamma distributed) and sessions are re-assigned in proportion to it: a habit that shows
before the cutoff and goes on after it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "mock_customer"


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import featuretools as ft

        d = ft.demo.load_mock_customer(
            n_customers=300, n_products=8, n_sessions=2500, n_transactions=20000, random_seed=0
        )
    customers, sessions, transactions, products = d["customers"], d["sessions"], d["transactions"], d["products"]
    rng = np.random.default_rng(0)
    rate = rng.gamma(shape=1.5, scale=1.0, size=len(customers))
    sessions["customer_id"] = rng.choice(customers.customer_id.to_numpy(), size=len(sessions), p=rate / rate.sum())
    span = transactions.transaction_time
    cutoff = (span.min() + (span.max() - span.min()) * 2 / 3).floor("h")
    after = transactions[transactions.transaction_time >= cutoff].merge(sessions[["session_id", "customer_id"]])
    counts = after.groupby("customer_id").size().reindex(customers.customer_id, fill_value=0)
    customers = customers.assign(cutoff_time=cutoff, heavy_buyer=(counts >= counts.median()).astype(int).to_numpy())
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("customers", customers),
        ("sessions", sessions),
        ("transactions", transactions),
        ("products", products),
    ):
        frame.to_csv(OUT / f"{name}.csv", index=False)
        print(f"{name}: {frame.shape}")
    print(f"cutoff {cutoff}; heavy buyers: {int(customers.heavy_buyer.sum())} of {len(customers)}")


if __name__ == "__main__":
    main()
