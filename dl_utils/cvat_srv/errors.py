"""Exceptions of :mod:`dl_utils.cvat_srv`: one-line messages naming the host/object and the cause.

Every error raised by this package is a :class:`CvatServerError`; the SDK's and urllib3's
exceptions are translated by :func:`translate` (``with translate(srv, "task 12"): ...``), which
never copies HTTP headers, cookies or request bodies into the message, and scrubs the
connection's secrets from whatever text it keeps.

Example:
    >>> from dl_utils.cvat_srv.errors import NotFound, CvatServerError
    >>> err = NotFound("http://cvat:8080: task 12 not found")
    >>> isinstance(err, CvatServerError) and isinstance(err, LookupError)
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AuthError",
    "ConflictError",
    "ConnectError",
    "CvatServerError",
    "LabelMismatchError",
    "NotFound",
    "PartialPushError",
    "PermissionDenied",
    "ServerJobError",
    "VerifyError",
    "Scrubber",
    "translate",
]


class CvatServerError(RuntimeError):
    """Base class: anything that went wrong talking to a CVAT server (message is one line)."""


class ConnectError(CvatServerError, ConnectionError):
    """The server cannot be reached (wrong URL, refused, DNS, TLS, timeout)."""


class AuthError(CvatServerError, PermissionError):
    """Login failed or the credentials were rejected (HTTP 401, bad password or token)."""


class PermissionDenied(CvatServerError, PermissionError):
    """Logged in, but not allowed to do this (HTTP 403)."""


class NotFound(CvatServerError, LookupError):
    """A project, task or job does not exist (or is not visible to this user), or a job of another task."""


class ServerJobError(CvatServerError):
    """A background request on the server (export, import, backup, task creation) failed."""


class ConflictError(CvatServerError):
    """The server's annotations changed since they were pulled; push again with ``force=True``."""


class VerifyError(CvatServerError):
    """After a push, the annotations read back differ from what was sent (``problems`` lists how)."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class LabelMismatchError(CvatServerError, ValueError):
    """Labels, attributes or values unknown to the target; ``problems`` lists every one. Nothing was written."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class PartialPushError(CvatServerError):
    """A push failed after some jobs were written.

    ``written``: ids of the jobs already written; ``failed``: the job that failed; ``undo_path``:
    the saved server state, so ``srv.undo(err.undo_path)`` restores the written jobs.
    """

    def __init__(
        self, message: str, *, written: Sequence[int], failed: int | None, undo_path: Path | None
    ) -> None:
        super().__init__(message)
        self.written = list(written)
        self.failed = failed
        self.undo_path = undo_path


@dataclass
class Scrubber:
    """Replaces secrets (password, token, session cookies) in text with ``***``.

    Held by a connection so error messages never carry its credentials. Its repr shows nothing.

    Example:
        >>> s = Scrubber(["hunter2"])
        >>> s("login hunter2 failed")
        'login *** failed'
        >>> repr(s)
        'Scrubber(<2 hidden>)'
    """

    _secrets: list[str]

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = []
        self.add(*secrets)
        self._secrets.append("")  # keeps the count in the repr from telling how many are real

    def add(self, *secrets: str | None) -> None:
        for s in secrets:
            if s and len(s) >= 3 and s not in self._secrets:
                self._secrets.insert(0, s)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s:
                text = text.replace(s, "***")
        return text

    def __repr__(self) -> str:
        return f"Scrubber(<{len(self._secrets)} hidden>)"


_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace; cut long server answers."""
    text = _WS.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail(body: Any) -> str:
    """The readable part of a DRF error body (``detail``, field errors), never headers."""
    if body is None:
        return ""
    if isinstance(body, bytes | bytearray):
        try:
            body = body.decode("utf-8", "replace")
        except Exception:  # pragma: no cover - defensive
            return ""
    text = str(body)
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        return text if len(text) < 500 and "<html" not in text.lower() else ""
    if isinstance(obj, dict):
        if "detail" in obj:
            return str(obj["detail"])
        parts = []
        for k, v in obj.items():
            v = "; ".join(map(str, v)) if isinstance(v, list) else str(v)
            parts.append(v if k == "non_field_errors" else f"{k}: {v}")
        return "; ".join(parts)
    if isinstance(obj, list):
        return "; ".join(map(str, obj))
    return str(obj)


def _status_error(status: int, where: str, detail: str) -> CvatServerError:
    cause = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(f"{where}: not authenticated (HTTP 401){cause}")
    if status == 403:
        return PermissionDenied(f"{where}: permission denied (HTTP 403){cause}")
    if status == 404:
        return NotFound(f"{where}: not found (HTTP 404){cause}")
    return CvatServerError(f"{where}: HTTP {status}{cause}")


def _reason(exc: BaseException) -> str:
    """The root cause of a urllib3 error, without the request line."""
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    m = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    if m:
        return m.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(inner).__name__:
        return "TLS certificate verification failed (pass verify=False only for a server you trust)"
    return one_line(text.split(": ", 1)[-1], 150)


def convert(exc: BaseException, where: str, scrub: Scrubber | None = None) -> CvatServerError:
    """Our exception for an SDK/urllib3 exception (message one line, secrets scrubbed)."""
    scrub = scrub or Scrubber()
    if isinstance(exc, CvatServerError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "body"):
        return _status_error(status, where, scrub(one_line(_detail(getattr(exc, "body", None)))))
    mod = type(exc).__module__
    if mod.startswith("urllib3") or isinstance(exc, ConnectionError | TimeoutError):
        if type(getattr(exc, "reason", None) or exc).__name__ == "ReadTimeoutError":
            return ConnectError(scrub(one_line(f"{where}: the server did not answer: read timed out")))
        return ConnectError(scrub(one_line(f"{where}: cannot reach the server: {_reason(exc)}")))
    if name == "BackgroundRequestException":
        return ServerJobError(scrub(one_line(f"{where}: the server reported a failure: {exc}")))
    if name == "InvalidHostException":
        return ConnectError(scrub(one_line(f"{where}: {exc}")))
    return CvatServerError(scrub(one_line(f"{where}: {name}: {exc}")))


@contextmanager
def translate(where: str, scrub: Scrubber | None = None) -> Iterator[None]:
    """Turn SDK/urllib3 exceptions raised inside the block into :class:`CvatServerError` s.

    ``where`` names the host and the object (``"http://cvat:8080: task 12"``).
    """
    try:
        yield
    except CvatServerError:
        raise
    except Exception as exc:
        mod = type(exc).__module__
        if mod.startswith(("cvat_sdk", "urllib3")) or isinstance(exc, ConnectionError | TimeoutError):
            raise convert(exc, where, scrub) from None
        raise
