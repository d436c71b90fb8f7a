#!/usr/bin/env python3
"""SMTP sink for local development and tests: accepts every message (and any AUTH, without TLS)
and saves it as MAILDIR/<UTC timestamp>-<n>.eml, written to a hidden temp name then renamed, so a
reader that lists *.eml never sees half a file. Envelope sender and recipients are prepended as
X-Envelope-From / X-Envelope-To headers. Started by scripts/dev-stack.sh; needs aiosmtpd."""

import argparse
import asyncio
import itertools
import os
import logging
import signal
from datetime import datetime, timezone

from aiosmtpd.smtp import SMTP, AuthResult

# aiosmtpd logs a warning about its own use of a deprecated attribute on every AUTH.
logging.getLogger("mail.log").addFilter(lambda r: "login_data is deprecated" not in r.getMessage())


class MaildirHandler:
    def __init__(self, maildir: str) -> None:
        self.maildir = maildir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{next(self.counter)}.eml"
        head = (
            f"X-Envelope-From: <{envelope.mail_from}>\r\n"
            f"X-Envelope-To: {', '.join(f'<{r}>' for r in envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = os.path.join(self.maildir, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(head + (envelope.original_content or envelope.content))
        os.replace(tmp, os.path.join(self.maildir, name))
        print(f"saved {name} from {envelope.mail_from} to {envelope.rcpt_tos}", flush=True)
        return "250 Message accepted for delivery"


def accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


async def serve(host: str, port: int, maildir: str) -> None:
    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="storefront-smtp-sink",
            enable_SMTPUTF8=True,
            authenticator=accept_any_login,
            auth_require_tls=False,
        ),
        host,
        port,
    )
    print(f"smtp sink on {host}:{port}, saving to {maildir}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()
    await srv.wait_closed()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1025)
    p.add_argument("--maildir", required=True)
    args = p.parse_args()
    os.makedirs(args.maildir, exist_ok=True)
    asyncio.run(serve(args.host, args.port, os.path.abspath(args.maildir)))


if __name__ == "__main__":
    main()
