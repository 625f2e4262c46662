"""``python -m tests.fuzz`` (what ``make fuzz`` runs): the long fuzz, a fresh seed, findings saved to the corpus.

Why a script and not pytest: a run lasts ten minutes and more, and it needs a database and a server of its own
(a private SQLite file and a daphne process), set up here the way tests/live_server.py does for the suite.
Settings come from the environment: FUZZ_SECONDS (600), FUZZ_SOCKET_CASES (10000), FUZZ_SEED (random),
FUZZ_CHECK_EVERY (1), FUZZ_SHRINK_SECONDS (60), FUZZ_RSS_CEILING_MIB (512). The exit status is 1 when anything
was found. Rust panic messages (yrs prints one for every update it rejects by panicking) go to a log file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _arguments() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(env("FUZZ_SECONDS", "600")))
    parser.add_argument("--socket-cases", type=int, default=int(env("FUZZ_SOCKET_CASES", "10000")))
    parser.add_argument("--seed", type=int, default=int(env("FUZZ_SEED") or random.SystemRandom().randrange(2**32)))
    parser.add_argument("--check-every", type=int, default=int(env("FUZZ_CHECK_EVERY", "1")))
    parser.add_argument("--shrink-seconds", type=float, default=float(env("FUZZ_SHRINK_SECONDS", "60")))
    parser.add_argument("--rss-ceiling-mib", type=int, default=int(env("FUZZ_RSS_CEILING_MIB", "512")))
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "fuzz" / "corpus")
    return parser.parse_args()


def _setup_django(workdir: Path) -> str:
    """Settings of the test suite on a private SQLite database, migrated; returns its URL (for the server)."""
    url = f"sqlite:///{workdir / 'fuzz.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = url
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return url


def _document() -> tuple[object, dict[str, str]]:
    """A document owned by alice, bob its editor (the attacker), carol its viewer (the joiner); their tokens."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from documents.models import Document, Membership

    users = {name: get_user_model().objects.create_user(username=name, password="fuzz-pass-1") for name in "abc"}
    document = Document.objects.create(title="Fuzz", owner=users["a"])
    Membership.objects.create(document=document, user=users["b"], role="editor")
    Membership.objects.create(document=document, user=users["c"], role="viewer")
    return document.pk, {name: Token.objects.create(user=user).key for name, user in users.items()}


async def _socket(args: argparse.Namespace, workdir: Path, database_url: str) -> list[str]:
    from asgiref.sync import sync_to_async

    from tests.live_server import DaphneServer

    from .corpus import save_socket_finding
    from .socket_driver import SERVER_ENV, Target, run

    document_id, tokens = await sync_to_async(_document)()
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1", ALLOWED_HOSTS="127.0.0.1,localhost")
    server = DaphneServer(workdir, {**env, **SERVER_ENV}).start()
    try:
        target = Target(server.ws_url, server.http_url, document_id, tokens["a"], tokens["b"], tokens["c"])
        target.alive, target.log_tail = (lambda: server.process.poll() is None), server.log
        target.log_path = server.log_path
        result = await run(target, args.socket_cases, args.seed)
        print(result.summary(), flush=True)
        saved = [
            await save_socket_finding(finding, result.script, result.last_case, args.corpus)
            for finding in result.findings
        ]
        for path in saved:
            print(f"  saved {path}", flush=True)
        return [str(finding) for finding in result.findings]
    finally:
        server.stop()


def main() -> int:
    args = _arguments()
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="collab-fuzz-"))
    database_url = _setup_django(workdir)
    from .room_driver import Options, run

    panics = open(workdir / "stderr.log", "ab")  # noqa: SIM115 - stays open for the whole run
    os.dup2(panics.fileno(), 2)
    print(f"seed {args.seed}: {args.seconds:.0f} s in-room, {args.socket_cases} socket cases; stderr: {panics.name}")
    options = Options(
        seconds=args.seconds,
        seed=args.seed,
        check_every=args.check_every,
        rss_ceiling_mib=args.rss_ceiling_mib,
        shrink_seconds=args.shrink_seconds,
        corpus_dir=args.corpus,
    )
    result = asyncio.run(run(options, log=lambda line: print(line, flush=True)))
    print(result.summary(), flush=True)
    socket_findings = asyncio.run(_socket(args, workdir, database_url)) if args.socket_cases else []
    total = sum(result.by_oracle.values()) + len(socket_findings)
    print(f"total: {result.cases} in-room cases ({result.cases_per_second:.0f}/s), {total} findings; seed {args.seed}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
