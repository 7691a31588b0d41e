"""``ServerLike``: what the package's modules need from a connection (``client.Server`` has it).

The modules type their ``srv`` argument with this protocol instead of importing
:class:`dl_utils.cvat_srv.client.Server`, which delegates to them (no import cycle).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["ServerLike"]


class ServerLike(Protocol):
    """A logged-in connection: URL, user, the SDK client and a few helpers."""

    url: str
    user: str | None
    org: str | None
    retry: Any
    undo_dir: str | None

    @property
    def sdk(self) -> Any: ...

    @property
    def api(self) -> Any: ...

    def call(
        self, api: str, operation: str, id_: int, body: Any = None, *, what: str = "", **query: Any
    ) -> Any: ...

    def errors(self, what: str = "") -> AbstractContextManager[None]: ...

    def scrub(self, text: str) -> str: ...

    def ui_url(self, kind: str, id_: int, task_id: int | None = None) -> str: ...
