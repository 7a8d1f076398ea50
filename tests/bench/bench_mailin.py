"""Inbound mail: CPU per message through a real SMTP conversation, on SQLite and PostgreSQL.

``python -m tests.bench.bench_mailin [--n 300]``. Starts the receiver (``web.mailin``) on a
free port over a fresh migrated database, sends ``n`` new-conversation mails (each with a
small PNG) and ``n`` replies threaded on them from one smtplib client thread, and prints the
process's CPU seconds per message (server and client together: both run here) and the wall
time, with the load before and during the run. The client's own share is small (smtplib
writes a few kilobytes per message) but included.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import smtplib
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import asyncpg

from tests.bench.common import machine
from tests.support.servers import postgres_server
from tickets.bus import InProcessBus
from tickets.db import make_engine, make_sessionmaker
from tickets.mail.threading import message_id, subject_tag
from tickets.routing.service import Router, RuleBook
from web.mailin import MailHandler, MailReceiver, mail_config
from web.migrate import upgrade
from web.settings import Settings, to_async_url

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")


def mails(n: int, domain: str) -> tuple[list[bytes], list[bytes]]:
    new, replies = [], []
    for i in range(n):
        m = EmailMessage()
        m["From"] = f"客户{i} <c{i}@example.cn>"
        m["To"] = f"support@{domain}"
        m["Subject"] = f"洗衣机不转 {i}"
        m["Message-ID"] = f"<bench.{i}@example.cn>"
        m.set_content("滚筒不转，显示 E21。\n" * 20)
        m.add_attachment(PNG, maintype="image", subtype="png", filename="photo.png")
        new.append(m.as_bytes(policy=SMTP_POLICY))
        number = f"T-{i + 1:06d}"  # fresh database: ticket i+1 is the i-th mail's
        r = EmailMessage()
        r["From"] = f"c{i}@example.cn"
        r["To"] = f"support@{domain}"
        r["Subject"] = f"Re: 洗衣机不转 {subject_tag(number)}"
        r["Message-ID"] = f"<bench.r{i}@example.cn>"
        r["In-Reply-To"] = message_id(number, "n-1", domain)
        r.set_content("还是不行\n\nOn Tue wrote:\n> 请重启")
        replies.append(r.as_bytes(policy=SMTP_POLICY))
    return new, replies


def send_all(port: int, raws: list[bytes], domain: str) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for raw in raws:
            client.sendmail("c@example.cn", [f"support@{domain}"], raw)


async def run(url: str, n: int, label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=url, data_dir=Path(tmp), mail_domain="bench.local")
        engine = make_engine(to_async_url(url))
        handler = MailHandler(make_sessionmaker(engine), InProcessBus(), mail_config(settings),
                              settings.mail_address_list, Router(RuleBook()))
        receiver = MailReceiver(handler, "127.0.0.1", 0, max_bytes=10 << 20,
                                hostname="bench.local")
        await receiver.start()
        new, replies = mails(n, "bench.local")
        try:
            for what, batch in (("new tickets", new), ("threaded replies", replies)):
                load = os.getloadavg()[0]
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.to_thread(send_all, receiver.port, batch, "bench.local")
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(f"{label:10} {what:17} {n} mails: {cpu / n * 1000:6.2f} ms CPU/mail, "
                      f"{n / wall:6.1f} mails/s wall (load {load:.2f} → "
                      f"{os.getloadavg()[0]:.2f})")
            print(f"{label:10} outcomes: {handler.stats.outcomes}")
        finally:
            await receiver.stop()
            await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        await run(url, args.n, "sqlite")
    with postgres_server() as server:
        admin = await asyncpg.connect(server)
        await admin.execute("DROP DATABASE IF EXISTS hotline_bench_mail")
        await admin.execute("CREATE DATABASE hotline_bench_mail")
        await admin.close()
        url = server.rsplit("/", 1)[0] + "/hotline_bench_mail"
        await asyncio.to_thread(upgrade, url)
        await run(url, args.n, "postgresql")


if __name__ == "__main__":
    asyncio.run(main())
