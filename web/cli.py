"""The ``hotline`` command: serve, db upgrade, demo (data; ``demo call``), user add."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.db import make_engine, make_sessionmaker, transaction
from tickets.errors import DomainError
from tickets.schemas import UserIn
from tickets.users import create_user
from web.logredact import install_redaction
from web.settings import Settings

log = logging.getLogger("hotline")
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="web, websocket, AMI bridges and ASR (one process, "
                                         "or --workers processes)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, metavar="N",
                       help="web worker processes (default HOTLINE_WORKERS, else 1); more "
                            "than 1 needs HOTLINE_REDIS_URL and PostgreSQL, and one of them "
                            "runs the PBX side and ASR")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not bring the database schema up to date first")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply Alembic migrations")

    demo = sub.add_parser("demo", help="load demo data (idempotent); 'demo call' rings now")
    demo_sub = demo.add_subparsers(dest="demo_command")
    call = demo_sub.add_parser("call", help="ring someone now through the demo PBX of a "
                                            "running 'hotline serve'")
    call.add_argument("--to", help="extension that answers (default: the scenario's, 6001)")
    call.add_argument("--scenario", help="answered | abandoned | transfer | answered_bob "
                                         "(default: the next in rotation)")
    call.add_argument("--url", default="http://127.0.0.1:8000",
                      help="the running server (default %(default)s)")

    ivr = sub.add_parser("ivr", help="the IVR SIP endpoint (softphone_bridge) on its own: "
                                     "ticket status, voice messages, call-backs, ratings")
    ivr.add_argument("--no-migrate", action="store_true",
                     help="do not bring the database schema up to date first")

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True,
                     choices=["agent", "supervisor", "admin", "engineer", "customer"])
    add.add_argument("--password", required=True)
    add.add_argument("--extension")
    add.add_argument("--customer", type=int, metavar="ID",
                     help="the customer record a customer login belongs to (/portal)")
    add.add_argument("--display-name", default="")
    return parser


async def _with_session(settings: Settings,
                        work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = make_engine(settings.async_database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()  # before anything logs: uvicorn's access log included
    # alembic ≥ 1.16 logs one INFO line per plugin it sets up: noise before every command
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as exc:
        # One line per bad setting, named as the operator wrote it; never the value (a
        # secret may be among them).
        for err in exc.errors():
            name = "HOTLINE_" + "_".join(str(part) for part in err["loc"]).upper()
            print(f"hotline: {name}: {err['msg']}", file=sys.stderr)
        return 2
    from web.migrate import upgrade

    if args.command == "db":
        upgrade(settings.database_url)
        print("database is at the latest schema")
        return 0
    if args.command == "demo" and args.demo_command == "call":
        from web.demo_call import ring_now

        return ring_now(settings, args.url, to=args.to, scenario=args.scenario)
    if args.command == "demo":
        from web.demo import load_demo

        upgrade(settings.database_url)
        added = asyncio.run(_with_session(
            settings, lambda s: load_demo(s, settings.default_region)))
        print("demo data:", ", ".join(f"{v} {k}" for k, v in added.items()),
              "added (users admin, alice/6001, bob/6002, sue/6010, eric, wang (customer); "
              "password 'demo')")
        return 0
    if args.command == "user":
        try:
            data = UserIn(username=args.name, password=args.password, role=args.role,
                          extension=args.extension, display_name=args.display_name,
                          customer_id=args.customer)
        except ValidationError as exc:
            print(f"hotline: invalid user: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
                  file=sys.stderr)
            return 2
        try:
            user = asyncio.run(_with_session(settings, lambda s: create_user(s, data)))
        except DomainError as exc:
            print(f"hotline: {exc.message}", file=sys.stderr)
            return 1
        print(f"created user {user.username} (id {user.id}, role {user.role})")
        return 0
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "ivr":
        from web.ivr_runtime import run_ivr

        if not args.no_migrate:
            upgrade(settings.database_url)
        return asyncio.run(run_ivr(settings))
    return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from web.migrate import upgrade

    workers = settings.workers if args.workers is None else args.workers
    if workers < 1:
        print("hotline: --workers must be at least 1", file=sys.stderr)
        return 2
    from web.workers import LOCK_ENV, prepare, refusal

    why = refusal(settings, workers)
    if why is not None:
        print(f"hotline: {why}", file=sys.stderr)
        return 2
    if not args.no_migrate:
        upgrade(settings.database_url)  # once, here, before any worker starts
    if workers == 1:
        from web.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port,
                    log_level="info", ws_ping_interval=None)
        return 0
    with tempfile.TemporaryDirectory(prefix="hotline-serve-") as tmp:
        # The workers are spawned: they read their settings from this environment.
        os.environ[LOCK_ENV] = str(prepare(settings, Path(tmp)))
        # The workers share one listening socket, and libuv (uvloop) accepts every pending
        # connection in one go: a client opening its keep-alive pool at once (a proxy, a
        # load generator) would land on one worker. One accept per turn spreads them.
        os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
        uvicorn.run("web.workers:worker_app", factory=True, workers=workers,
                    host=args.host, port=args.port, log_level="info", ws_ping_interval=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
