"""`policy-engine sinks`: local stand-ins for an SMTP server and an SMS/voice gateway, for a first run."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from policy_engine._exceptions import UsageError
from policy_engine.cli.app import app
from policy_engine.cli.console import note, plural
from policy_engine.cli.sinks import Sinks

__all__ = ["sinks_command"]


@app.command("sinks")
def sinks_command(
    folder: Annotated[Path, typer.Option("--folder", metavar="DIR",
                                         help="Where to keep what the sinks receive.")] = Path("sink"),
    smtp_port: Annotated[int, typer.Option("--smtp-port", metavar="PORT", min=0, max=65535,
                                           help="The SMTP sink's port on 127.0.0.1 (0: any free port).")] = 2525,
    http_port: Annotated[int, typer.Option("--http-port", metavar="PORT", min=0, max=65535,
                                           help="The HTTP gateway's port on 127.0.0.1 (0: any free port).")] = 8025,
    seconds: Annotated[float | None, typer.Option("--for", metavar="SECONDS", min=0,
                                                  help="Stop after this long (default: at Ctrl-C).")] = None,
) -> None:
    """Start local stand-ins for an SMTP server and an SMS/voice gateway, keeping what they receive in a folder.

    E-mails go to DIR/mail/NNNN.eml, each HTTP POST (texts to /sms, calls to /voice, webhooks to /webhook)
    to DIR/http/PATH/NNNN.json. Both listen on 127.0.0.1 only and check nothing; examples/policy-engine.toml
    points the built-in channels at them (letters and legal referrals go to DIR/letters and DIR/legal).
    """
    try:
        sinks = Sinks(folder, smtp_port, http_port)
    except OSError as error:
        raise UsageError(f"cannot listen on 127.0.0.1 (SMTP port {smtp_port}, HTTP port {http_port}): "
                         f"{error.strerror or error}; choose others with --smtp-port/--http-port") from None
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill PID` stops the sinks as Ctrl-C does
    with sinks:
        typer.echo(f"SMTP sink on 127.0.0.1:{sinks.smtp.port}, HTTP gateway on http://127.0.0.1:{sinks.http.port}; "
                   f"keeping what they receive in {folder}/ (Ctrl-C or kill stops)", err=True)
        try:
            if seconds is None:
                while True:
                    time.sleep(3600)
            else:
                time.sleep(seconds)
        except KeyboardInterrupt:
            pass
    note(f"sinks stopped: {plural(sinks.smtp.files.count, 'e-mail')} and "
         f"{plural(sinks.http.files.count, 'HTTP request')} kept in {folder}/")
