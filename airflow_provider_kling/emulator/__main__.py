"""``kling-emulator`` / ``python -m airflow_provider_kling.emulator``: run the emulator until SIGTERM/SIGINT.

Prints ``KLING_EMULATOR_URL=<url>`` on stdout once the server answers (and ``KLING_EMULATOR_CA=<path>``
with ``--https``); ``--port-file`` receives the URL too (written atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .config import EmulatorConfig


def _fault(value: str) -> tuple[str, float]:
    kind, sep, rate = value.partition(":")
    try:
        return kind, float(rate) if sep else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --fault {value!r}: expected KIND[:rate]") from None


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --port {value!r}: expected a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"bad --port {value!r}: expected 0-65535 (0: a free port)")
    return port


#: uvicorn's log levels (``uvicorn.config.LOG_LEVELS``), without importing uvicorn here
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _kling_key(value: str) -> tuple[str, str]:
    access, sep, secret = value.partition(":")
    if not sep or not access or not secret:
        raise argparse.ArgumentTypeError(f"bad --kling-key {value!r}: expected ACCESS_KEY:SECRET_KEY")
    return access, secret


#: The control API a user reaches for first (all of it: docs/reference/emulator.md, Control API).
EPILOG = """\
control API (no auth), on the printed KLING_EMULATOR_URL:
  GET  /_emulator/counters      submits, dedup hits, status calls, refusals... per gateway
  GET  /_emulator/jobs          every job (?gateway=NAME); /_emulator/jobs/ID for one
  GET  /_emulator/jobs?by=client_reference
                                job ids per clip and gateway: one id per clip = one paid job
                                (APIXO, APIMart, kie.ai send no client id: keyed by prompt)
  POST /_emulator/reset         forget jobs and counters
  GET|POST /_emulator/limits    concurrency, rate and latency of the running emulator
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kling-emulator",
        description=(
            "Local emulator of the Kling API and of Rivya, Runware, APIXO, APIMart, kie.ai, fal "
            "and Replicate."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="port, 0-65535 (default 0: a free port)")
    p.add_argument("--latency", type=float, default=3.0, help="seconds from submit to result (default 3)")
    p.add_argument(
        "--https", action="store_true", help="serve TLS with a generated CA (see KLING_EMULATOR_CA)"
    )
    p.add_argument("--response-delay-ms", type=float, default=0.0, help="delay added to every gateway answer")
    p.add_argument("--port-file", type=Path, help="write the URL to this file once the server is up")
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND[:rate]",
        help="server-wide random fault, e.g. 503:0.1 or slow:0.05 (repeatable; rate defaults to 1)",
    )
    p.add_argument("--fault-seed", type=int, help="seed for the random faults")
    p.add_argument("--slow-seconds", type=float, default=5.0, help="delay of the 'slow' fault (default 5)")
    p.add_argument("--cache-dir", type=Path, help="where rendered MP4s are cached (default: a temp dir)")
    p.add_argument("--fps", type=int, default=12, help="frame rate of rendered MP4s (default 12)")
    p.add_argument("--public-url", help="base URL written into result URLs (default: the request's)")
    p.add_argument(
        "--kling-key",
        type=_kling_key,
        action="append",
        default=[],
        metavar="ACCESS:SECRET",
        help="accepted Kling key pair (repeatable; default: the DEFAULT_KLING_* keys in emulator.config)",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        help="accepted Bearer key of the other gateways (repeatable; default: any key not starting 'bad')",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="jobs in flight per API key and gateway (default 0: unlimited)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="submits per second per API key and gateway (default 0: unlimited)",
    )
    p.add_argument(
        "--latency-jitter",
        type=float,
        default=0.0,
        metavar="F",
        help="spread each job's latency uniformly over latency*[1-F, 1+F] (default 0)",
    )
    p.add_argument("--latency-seed", type=int, help="seed of the latency spread (default: random)")
    p.add_argument(
        "--balance",
        type=float,
        help="starting balance per key (Kling units, Rivya credits); submits beyond it are refused",
    )
    p.add_argument("--kie-errors-http-200", action="store_true", help="answer kie.ai errors with HTTP 200")
    p.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="warning",
        help="uvicorn log level (default warning)",
    )
    return p


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _port_file_problem(path: Path) -> str | None:
    """Why the URL could not be written to ``path`` (``None``: it can), checked before the server
    starts as the write does it: the folder created, a temporary file made there (then removed)."""
    try:
        if path.is_dir():
            return "it is a directory"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".port-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        return f"cannot write it ({exc})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            latency=args.latency,
            response_delay_ms=args.response_delay_ms,
            faults=dict(args.fault),
            fault_seed=args.fault_seed,
            slow_seconds=args.slow_seconds,
            cache_dir=args.cache_dir,
            fps=args.fps,
            public_url=args.public_url,
            kie_errors_http_200=args.kie_errors_http_200,
            concurrency=args.concurrency,
            rate=args.rate,
            latency_jitter=args.latency_jitter,
            latency_seed=args.latency_seed,
            balance=args.balance,
            api_keys=frozenset(args.api_key) if args.api_key else None,
        )
        if args.kling_key:
            config.kling_keys = dict(args.kling_key)
    except ValueError as exc:
        print(f"kling-emulator: {exc}", file=sys.stderr)
        return 2
    problem = None if args.port_file is None else _port_file_problem(args.port_file)
    if problem is not None:
        print(f"kling-emulator: bad --port-file {str(args.port_file)!r}: {problem}", file=sys.stderr)
        return 2

    from .server import EmulatorServer

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = EmulatorServer(
        config, host=args.host, port=args.port, https=args.https, log_level=args.log_level
    )
    try:
        try:
            server.start()
        except (OSError, TimeoutError, RuntimeError) as exc:
            print(f"kling-emulator: could not start on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        if args.port_file is not None:  # before stdout: whoever reads the URL line may read the file next
            try:
                _write_atomically(args.port_file, server.url + "\n")
            except OSError as exc:  # changed since the check above
                print(
                    f"kling-emulator: cannot write --port-file {str(args.port_file)!r}: {exc}",
                    file=sys.stderr,
                )
                return 2
        print(f"KLING_EMULATOR_URL={server.url}", flush=True)
        if server.ca_path is not None:
            print(f"KLING_EMULATOR_CA={server.ca_path}", flush=True)
        while not stop.wait(0.5):
            if not server.running:
                print("kling-emulator: the server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
