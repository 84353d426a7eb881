"""Storm: 15,000 messages (the July 2018 heavy-rain figure) accepted and pushed to a few subscribers on
loopback; none may be lost (receipts are counted at the receiver, de-duplicated by delivery id).

``python bench/commons_storm.py [MESSAGES] [SUBSCRIBERS]``; SQLite in a temporary file.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commons_receiver import receiver
from renkei.commons.delivery.worker import DeliveryWorker, delivery_client, running
from renkei.commons.model import MessageKind
from renkei.commons.ports import Channel, DeliveryState
from renkei.commons.service import CommonsService, Draft
from renkei.storage.clock import SystemClock
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 15_000
    subscribers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp, receiver() as (base, stats):
        with create_storage(f"sqlite:///{Path(tmp) / 'storm.db'}") as storage:
            service = CommonsService(SqlCommonsStore(connection_source(storage)), SystemClock())
            for n in range(subscribers):
                service.register_subscriber(
                    name=f"media-{n}",
                    channel=list(Channel)[n % 5],
                    webhook_url=f"{base}{n}",
                    secret="bench-secret-0123456789",
                )
            draft = Draft(
                kind=MessageKind.EVACUATION,
                sender="bousai@city.kurashiki.okayama.jp",
                sender_name="倉敷市",
                sender_code="332020",
                area_desc="真備町",
                area_codes=("332020",),
                headline="避難指示",
                details={"発令区分": "避難指示", "地区": "真備町"},
            )
            alerts = [service.alert_from_draft(draft) for _ in range(messages)]

            async def run() -> tuple[float, float]:
                async with delivery_client(connections=32) as client:
                    worker = DeliveryWorker(
                        service.store,
                        client,
                        SystemClock(),
                        signal=service.signal,
                        concurrency=32,
                    )
                    async with running(worker):
                        start = time.perf_counter()
                        for alert in alerts:
                            await asyncio.to_thread(service.submit_alert, alert)
                        accepted = time.perf_counter() - start
                        while service.store.deliveries.count_by_state()[DeliveryState.PENDING]:
                            await asyncio.sleep(0.2)
                        return accepted, time.perf_counter() - start

            accepted_s, total_s = asyncio.run(run())
            counts = service.store.deliveries.count_by_state()
        received = len(stats.get("/stats").json()["times"])
    expected = messages * subscribers
    print(
        f"accepted {messages} messages in {accepted_s:.1f} s ({messages / accepted_s:.0f}/s); states {counts}"
    )
    lost = expected - received
    print(
        f"commons storm: {messages} messages x {subscribers} subscribers, {received}/{expected} receipts, "
        f"{lost} lost, {received / total_s:.0f} deliveries/s, {messages / total_s:.0f} messages/s end-to-end"
    )


if __name__ == "__main__":
    main()
