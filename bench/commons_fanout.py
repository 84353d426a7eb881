"""Fan-out: one alert to 1,000 webhook subscribers on loopback; p50 / p99 delivery latency (goal p99 ≤ 1 s).

``python bench/commons_fanout.py``. Latency runs from the moment the alert is submitted (before
validation, rendering and the commit of its 1,000 deliveries) to the moment the receiver has read each
push completely. The receiver (``commons_receiver.py``) is a separate process: a raw-asyncio HTTP/1.1
server with keep-alive on 127.0.0.1, one URL per subscriber (``/hook/{n}``). The worker runs as the app
runs it (same process as the service, signed pushes, 32 at a time, outcomes recorded in batches).
SQLite in a temporary file. The last line is the figure.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commons_receiver import receiver
from renkei.commons.delivery.worker import DeliveryWorker, delivery_client, running
from renkei.commons.model import MessageKind
from renkei.commons.ports import Channel, DeliveryOutcome, DeliveryRecord, DeliveryState
from renkei.commons.service import CommonsService, Draft
from renkei.storage.clock import SystemClock
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage

SUBSCRIBERS = 1000
DRAFT = Draft(
    kind=MessageKind.EVACUATION,
    sender="bousai@city.kurashiki.okayama.jp",
    sender_name="倉敷市",
    sender_code="332020",
    area_desc="真備町",
    area_codes=("332020",),
    headline="真備町に避難指示",
    details={"発令区分": "避難指示", "地区": "真備町"},
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, receiver() as (base, stats):
        with create_storage(f"sqlite:///{Path(tmp) / 'fanout.db'}") as storage:
            service = CommonsService(SqlCommonsStore(connection_source(storage)), SystemClock())
            channels = list(Channel)
            for n in range(SUBSCRIBERS):
                service.register_subscriber(
                    name=f"media-{n}",
                    channel=channels[n % len(channels)],
                    webhook_url=f"{base}{n}",
                    secret="bench-secret-0123456789",
                )
            alert = service.alert_from_draft(DRAFT)

            async def run() -> float:
                recorded = 0
                done = asyncio.Event()

                def count(_: DeliveryRecord, outcome: DeliveryOutcome) -> None:
                    nonlocal recorded
                    if outcome.state is not DeliveryState.PENDING:
                        recorded += 1
                    if recorded >= SUBSCRIBERS:
                        done.set()

                async with delivery_client(connections=32) as client:
                    worker = DeliveryWorker(
                        service.store,
                        client,
                        SystemClock(),
                        signal=service.signal,
                        concurrency=32,
                        claim_batch=1000,
                        per_subscriber=2,
                        listeners=[count],
                    )
                    async with running(worker):
                        await asyncio.sleep(0.2)
                        accepted_at = time.time()
                        await asyncio.to_thread(service.submit_alert, alert)
                        await asyncio.wait_for(done.wait(), 60)
                return accepted_at

            accepted_at = asyncio.run(run())
        seen = stats.get("/stats").json()
        latencies = sorted(t - accepted_at for t in seen["times"].values())
    if len(latencies) != SUBSCRIBERS or seen["paths"] != SUBSCRIBERS:
        raise SystemExit(f"only {len(latencies)} of {SUBSCRIBERS} subscribers received the alert")
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * len(latencies)) - 1]
    print(
        f"fan-out to {SUBSCRIBERS} subscribers: all delivered, first {latencies[0] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
    print(
        f"commons fan-out {SUBSCRIBERS} subscribers: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal p99 <= 1000 ms)"
    )


if __name__ == "__main__":
    main()
