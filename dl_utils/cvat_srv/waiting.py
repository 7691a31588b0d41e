"""Waiting for the server's background requests (exports, imports, backups, task creation).

:func:`wait_request` polls ``/api/requests/<rq_id>`` through the SDK, shows the server's
progress in a tqdm bar (``progress=True``), and raises :class:`ServerJobError` with the server's
message when the request fails, or when it does not finish within ``timeout`` seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dl_utils.cvat_srv.errors import ServerJobError, one_line
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["progress_reporter", "wait_request"]

log = get_logger(__name__)


def _status(request: Any) -> str:
    status = getattr(request, "status", "")
    return str(getattr(status, "value", status))


def wait_request(
    srv: Server,
    rq_id: str,
    what: str,
    *,
    progress: bool = False,
    period: float = 0.5,
    timeout: float | None = None,
) -> Any:
    """Poll a background request until it finishes; returns the SDK ``Request`` model.

    Raises:
        ServerJobError: the server reports ``failed`` (its message included), or ``timeout``.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=100, desc=what, unit="%", leave=False)
    t0 = time.monotonic()
    try:
        while True:
            with srv.errors(what):
                request, _ = srv.api.requests_api.retrieve(rq_id)
            status = _status(request)
            if bar is not None:
                pct = float(getattr(request, "progress", None) or 0.0) * 100
                bar.n = min(100.0, pct)
                bar.set_postfix_str(status)
                bar.refresh()
            if status == "finished":
                return request
            if status == "failed":
                msg = one_line(srv.scrub(str(getattr(request, "message", "") or "no message")), 400)
                raise ServerJobError(f"{srv.url}: {what} failed on the server: {msg}")
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise ServerJobError(
                    f"{srv.url}: {what} did not finish within {timeout:g} s (status {status})"
                )
            log.debug("%s: %s", what, status)
            time.sleep(period)
    finally:
        if bar is not None:
            bar.close()


def progress_reporter() -> Any:
    """A ``cvat_sdk`` progress reporter drawing a tqdm bar in bytes (uploads and downloads)."""
    from cvat_sdk.core import helpers

    args = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
    deferred = getattr(helpers, "DeferredTqdmProgressReporter", None)
    if deferred is not None:
        return deferred({"leave": False})
    from tqdm import tqdm  # older SDKs

    return helpers.TqdmProgressReporter(tqdm(**args))
