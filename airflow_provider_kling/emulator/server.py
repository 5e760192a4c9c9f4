"""``EmulatorServer``: the emulator on a real loopback socket, in a background thread."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import EmulatorConfig


class EmulatorServer:
    """Run the emulator with uvicorn in a daemon thread.

    ``port=0`` binds a free port (the socket is bound here and handed to uvicorn, so there is no race
    between picking and binding). ``https=True`` generates a throw-away CA + server certificate for
    127.0.0.1/localhost; clients verify with ``ca_path``. Logging of the embedding process is left
    alone unless ``configure_logging`` (the CLI sets it).

    Usage::

        with EmulatorServer(EmulatorConfig(latency=0.5)) as emu:
            httpx.get(f"{emu.url}/_emulator/health")
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = False,
        log_level: str = "warning",
        configure_logging: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.https = https
        self.log_level = log_level
        self.configure_logging = configure_logging
        self.ca_path: Path | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.app: Any = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the emulator server is not started")
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.https else 'http'}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 20.0) -> EmulatorServer:
        """Bind, start uvicorn in a thread and wait (polling, with a deadline) until health answers."""
        if self._thread is not None:
            raise RuntimeError("already started")
        import uvicorn

        from .app import create_app

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]

        ssl_options: dict[str, Any] = {}
        if self.https:
            from .tls import generate_certificates

            self._tls_dir = tempfile.TemporaryDirectory(prefix="kling-emulator-tls-")
            files = generate_certificates(self._tls_dir.name, hosts=(self.host,))
            self.ca_path = files.ca_path
            ssl_options = {"ssl_certfile": str(files.cert_path), "ssl_keyfile": str(files.key_path)}

        self.app = create_app(self.config)
        uv_config = uvicorn.Config(
            self.app,
            log_level=self.log_level,
            # uvicorn's own dictConfig would reconfigure logging of the embedding process (e.g. Airflow)
            log_config=uvicorn.config.LOGGING_CONFIG if self.configure_logging else None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
            **ssl_options,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._run, name=f"kling-emulator-{self.port}", daemon=True)
        self._thread.start()
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # surfaced by _wait_healthy
            self._error = exc

    def _wait_healthy(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        delay = 0.01
        last: Exception | None = None
        with httpx.Client(verify=self._verify(), timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self._thread is not None and not self._thread.is_alive():
                    raise RuntimeError(f"the emulator server thread died: {self._error!r}")
                try:
                    if client.get(f"{self.url}/_emulator/health").status_code == 200:
                        return
                except httpx.HTTPError as exc:
                    last = exc
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        raise TimeoutError(f"the emulator at {self.url} did not become healthy within {timeout}s: {last!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, join the thread and release the socket and temporary files."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._thread = None
        self._server = None
        if self._socket is not None:
            self._socket.close()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control API helpers ----------------------------------------------------------------------
    def _verify(self) -> str | bool:
        return str(self.ca_path) if self.ca_path is not None else True

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        with httpx.Client(verify=self._verify(), timeout=10.0, trust_env=False) as client:
            response = client.request(method, f"{self.url}/_emulator/{path}", json=body)
            response.raise_for_status()
            return response.json()

    def counters(self) -> dict[str, Any]:
        """``GET /_emulator/counters``."""
        result: dict[str, Any] = self._control("GET", "counters")
        return result

    def reset(self) -> None:
        """``POST /_emulator/reset``."""
        self._control("POST", "reset")

    def limits(self, **values: float) -> dict[str, Any]:
        """``GET /_emulator/limits``, or ``POST`` when given any of ``concurrency``, ``rate``,
        ``latency``, ``latency_jitter``: the limits in force afterwards."""
        result: dict[str, Any] = self._control("POST" if values else "GET", "limits", values or None)
        return result

    def jobs_by_client_reference(self, gateway: str | None = None) -> dict[str, dict[str, list[str]]]:
        """``GET /_emulator/jobs?by=client_reference``: job ids per gateway and clip."""
        query = "jobs?by=client_reference" + (f"&gateway={gateway}" if gateway else "")
        result: dict[str, dict[str, list[str]]] = self._control("GET", query)
        return result

    def billing(self, gateway: str | None = None) -> dict[str, Any]:
        """``GET /_emulator/billing``: what each job (of ``gateway``) was charged, and the totals."""
        result: dict[str, Any] = self._control("GET", f"billing?gateway={gateway}" if gateway else "billing")
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /_emulator/jobs/{job_id}``."""
        result: dict[str, Any] = self._control("GET", f"jobs/{job_id}")
        return result
