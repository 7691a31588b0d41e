"""Retries for everything the CVAT client sends: exponential backoff with jitter, at two levels.

**HTTP level.** :func:`install_retries` puts a :class:`RetryPolicy` on the connection pools of a
``cvat_sdk`` client (``client.api_client.rest_client.pool_manager``), so *every* request the SDK
sends — API calls, chunked uploads, file downloads, polling — goes through it:

* connection errors (refused, DNS, connect timeout): retried for every method (nothing reached
  the server);
* connection resets and read timeouts after the request was sent: retried for idempotent
  methods (``GET``, ``HEAD``, ``PUT``, ``DELETE``, ``OPTIONS``) and for the ``POST`` requests
  that only start an export or a backup (``policy.safe_posts``; starting one twice is harmless);
* ``429``, ``500``, ``502``, ``503``, ``504``: retried for idempotent methods; ``POST``/``PATCH``
  are retried on ``429``, ``502`` and ``503`` only (answers saying the request was not
  processed), so a create is never sent twice after the server may have done it;
* ``Retry-After`` is honoured; otherwise the wait is ``backoff_factor * 2 ** (n - 1)`` capped at
  ``backoff_max`` plus a uniform random jitter in ``[0, jitter]`` seconds;
* every request gets a ``(connect, read)`` timeout (the SDK sends none by default);
* every retry is logged at WARNING: method, path (no query string), cause, wait.

**Operation level.** :func:`call_with_retries` re-runs a whole operation (pull a task, download a
backup) when it still fails with a transient error (:func:`is_transient`) after the HTTP retries,
e.g. a download cut half-way. The batch functions (:mod:`dl_utils.cvat_srv.batch`) use it for
operations that are safe to repeat.

Example:
    >>> policy = RetryPolicy(total=5, backoff_factor=0.1, jitter=0.05)
    >>> policy.waits(4, seed=0) == sorted(policy.waits(4, seed=0))   # grows exponentially
    True
    >>> is_transient(ConnectionResetError(104, "Connection reset by peer"))
    True
    >>> is_transient(ValueError("label 'zzz' is not in the project"))
    False
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dl_utils.utils import get_logger

__all__ = [
    "DEFAULT_POLICY",
    "IDEMPOTENT_METHODS",
    "SAFE_POSTS",
    "RetryPolicy",
    "call_with_retries",
    "default_policy",
    "install_retries",
    "install_timeouts",
    "installed_policy",
    "installed_timeout",
    "is_transient",
    "transient_status",
]

log = get_logger(__name__)
R = TypeVar("R")

#: Methods that are safe to send twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_TRANSIENT_STATUS = frozenset({0, 408, 429, 500, 502, 503, 504})


#: ``POST`` paths (regular expressions) that only start a server job whose repetition is
#: harmless (exports and backups): retried on connection resets like idempotent methods.
SAFE_POSTS = (
    r"^/api/(?:tasks|projects|jobs)/\d+/(?:dataset|backup)/export/?$",
    r"^/api/auth/login/?$",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How HTTP requests and whole operations are retried.

    ``total``: retries per request (0 disables them); ``connect``: of those, how many on errors
    before anything reached the server (refused, DNS, connect timeout; ``None``: up to ``total``)
    — a wrong URL or a server that is down fails in seconds, not minutes. The n-th wait is
    ``min(backoff_max, backoff_factor * 2 ** (n - 1)) + uniform(0, jitter)`` seconds (a
    ``Retry-After`` header wins). ``status_forcelist``: statuses retried for idempotent methods;
    ``unsafe_status_forcelist``: those also retried for ``POST``/``PATCH``. ``connect_timeout`` /
    ``read_timeout``: seconds per connection attempt / per socket read. ``attempts``: tries of a
    whole operation in :func:`call_with_retries` (and in the batch functions). ``safe_posts``:
    ``POST`` paths (regular expressions) retried like idempotent methods (exports, backups).

    Example:
        >>> RetryPolicy(total=0).total
        0
    """

    total: int = 8
    connect: int | None = 3
    backoff_factor: float = 0.25
    backoff_max: float = 20.0
    jitter: float = 0.25
    status_forcelist: tuple[int, ...] = (429, 500, 502, 503, 504)
    unsafe_status_forcelist: tuple[int, ...] = (429, 502, 503)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    attempts: int = 3
    safe_posts: tuple[str, ...] = SAFE_POSTS

    def __post_init__(self) -> None:
        if self.total < 0 or self.attempts < 1:
            raise ValueError(f"need total >= 0 and attempts >= 1, got {self.total} and {self.attempts}")
        if min(self.backoff_factor, self.backoff_max, self.jitter) < 0:
            raise ValueError("backoff_factor, backoff_max and jitter must be >= 0")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be > 0 seconds")

    def wait(self, n: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``n`` (1-based): exponential, capped, plus jitter."""
        base = self.backoff_factor * 2 ** max(0, n - 1)
        jitter = (rng or random).uniform(0, self.jitter) if self.jitter else 0.0
        return min(self.backoff_max, base) + jitter

    def waits(self, n: int, seed: int | None = None) -> list[float]:
        """The first ``n`` waits (with a seeded jitter when ``seed`` is given), for inspection."""
        rng = random.Random(seed)
        return [self.wait(i, rng) for i in range(1, n + 1)]

    def urllib3_retry(self) -> Any:
        """A ``urllib3.util.Retry`` carrying this policy (what :func:`install_retries` installs).

        This is the ``RetryPolicy`` protocol of :func:`dl_utils.cvat_srv.client.connect`.
        """
        cls = _retry_class()
        return cls(
            total=self.total,
            connect=self.connect,
            read=None,
            status=None,
            other=None,
            redirect=5,
            allowed_methods=IDEMPOTENT_METHODS,
            status_forcelist=frozenset(self.status_forcelist),
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            raise_on_status=False,  # the last response reaches the SDK, which raises with its body
            respect_retry_after_header=True,
            policy=self,
        )


#: The policy :func:`install_retries` uses when none is given.
DEFAULT_POLICY = RetryPolicy()


def default_policy() -> RetryPolicy:
    """The package's default policy (what :func:`dl_utils.cvat_srv.connect` uses without ``retry=``)."""
    return DEFAULT_POLICY


@functools.cache
def _retry_class() -> type:
    """``urllib3.util.Retry`` subclass: method-aware status list, one logged line per retry."""
    from urllib3.util.retry import Retry

    class _LoggedRetry(Retry):  # type: ignore[misc]
        def __init__(self, *args: Any, policy: RetryPolicy = DEFAULT_POLICY, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.policy = policy
            self._wait: float | None = None

        def new(self, **kw: Any) -> Any:
            kw.setdefault("policy", self.policy)
            return super().new(**kw)

        def _safe_post(self, url: str | None) -> bool:
            path = (url or "").split("?", 1)[0]
            if "://" in path:
                path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
            return any(re.match(p, path) for p in self.policy.safe_posts)

        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if super().is_retry(method, status_code, has_retry_after):
                return True
            return bool(self.total) and status_code in self.policy.unsafe_status_forcelist

        def get_backoff_time(self) -> float:
            # computed once per retry so the logged wait is the real one
            if self._wait is None:
                n = len([h for h in self.history if h.redirect_location is None])
                self._wait = 0.0 if n == 0 else self.policy.wait(n)
            return self._wait

        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: Any = None,
            error: Exception | None = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> Any:
            as_method = method
            if method and method.upper() in ("POST", "PATCH") and self._safe_post(url):
                as_method = "PUT"  # starting an export twice is harmless: retry it like a PUT
            new = super().increment(as_method, url, response, error, _pool, _stacktrace)
            if response is not None and response.get_redirect_location():
                return new
            cause = (
                f"HTTP {response.status}"
                if response is not None and getattr(response, "status", None)
                else _short_error(error)
            )
            host = f"{getattr(_pool, 'host', '')}:{getattr(_pool, 'port', '')}" if _pool is not None else ""
            path = (url or "").split("?", 1)[0]
            retry_after = response.headers.get("Retry-After") if response is not None else None
            wait = f"Retry-After {retry_after}" if retry_after else f"waiting {new.get_backoff_time():.2f} s"
            log.warning(
                "HTTP retry %d/%d: %s %s%s failed (%s); %s",
                len(new.history),
                self.policy.total,
                method or "?",
                host,
                path,
                cause,
                wait,
            )
            return new

    return _LoggedRetry


def _short_error(error: BaseException | None, limit: int = 160) -> str:
    if error is None:
        return "no response"
    reason = getattr(error, "reason", None)  # MaxRetryError / ProtocolError wrap the real cause
    inner = reason if isinstance(reason, BaseException) else None
    if inner is None and error.args and isinstance(error.args[-1], BaseException):
        inner = error.args[-1]
    text = f"{type(error).__name__}: {error}" if inner is None else f"{type(inner).__name__}: {inner}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def install_retries(client: Any, policy: RetryPolicy | None = None) -> Any:
    """Route every HTTP request of a ``cvat_sdk`` client through ``policy``; returns the client.

    ``client`` is a ``cvat_sdk.Client`` or its ``ApiClient``. Existing pooled connections are
    dropped so the new policy applies from the next request; calling it again replaces the
    policy. Requests sent without a timeout get ``(connect_timeout, read_timeout)``.

    Example:
        >>> from cvat_sdk import make_client                            # doctest: +SKIP
        >>> client = install_retries(make_client("http://localhost:8080"), RetryPolicy(total=5))  # doctest: +SKIP
    """
    policy = policy or DEFAULT_POLICY
    api_client = getattr(client, "api_client", client)
    rest: Any = getattr(api_client, "rest_client", None)
    pool_manager = getattr(rest, "pool_manager", None)
    if rest is None or pool_manager is None:
        raise TypeError(f"{type(client).__name__} is not a cvat_sdk Client or ApiClient")
    pool_manager.connection_pool_kw["retries"] = policy.urllib3_retry()
    pool_manager.clear()
    api_client.configuration.retries = pool_manager.connection_pool_kw["retries"]
    install_timeouts(client, (policy.connect_timeout, policy.read_timeout))
    rest._dl_utils_policy = policy
    return client


def install_timeouts(client: Any, timeout: tuple[float, float]) -> Any:
    """Give every request of a ``cvat_sdk`` client sent without a timeout ``(connect, read)`` seconds.

    What :func:`install_retries` does for the timeouts, alone (for connections whose retries are
    a plain ``urllib3.util.Retry``); calling it again replaces the timeouts. Returns the client.
    """
    api_client = getattr(client, "api_client", client)
    rest: Any = getattr(api_client, "rest_client", None)
    if rest is None:
        raise TypeError(f"{type(client).__name__} is not a cvat_sdk Client or ApiClient")
    original = getattr(rest, "_dl_utils_original_request", None) or rest.request
    timeout = (float(timeout[0]), float(timeout[1]))

    @functools.wraps(original)
    def request(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = timeout
        return original(*args, **kwargs)

    rest._dl_utils_original_request = original
    rest._dl_utils_timeout = timeout
    rest.request = request
    return client


def installed_timeout(client: Any) -> tuple[float, float] | None:
    """The ``(connect, read)`` timeout :func:`install_timeouts` put on ``client`` (``None`` if none)."""
    api_client = getattr(client, "api_client", client)
    return getattr(getattr(api_client, "rest_client", None), "_dl_utils_timeout", None)


def installed_policy(client: Any) -> RetryPolicy | None:
    """The policy :func:`install_retries` put on ``client`` (``None`` if none)."""
    api_client = getattr(client, "api_client", client)
    return getattr(getattr(api_client, "rest_client", None), "_dl_utils_policy", None)


def transient_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK ``ApiException`` (or anything with ``.status``), else ``None``."""
    status = getattr(exc, "status", None)
    return int(status) if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or any exception in its ``__cause__``/``__context__`` chain) is worth retrying.

    Transient: connection errors and resets, timeouts, urllib3 ``MaxRetryError``/``ProtocolError``,
    ``http.client`` incomplete reads, and API errors with status 0, 408, 429 or 5xx. Anything
    else (bad input, 4xx, validation) is not: retrying would fail the same way.
    """
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if _is_transient_one(err):
            return True
        status = transient_status(err)
        if status is not None and status not in _TRANSIENT_STATUS:
            return False  # a definite answer from the server (404, 403, 400...)
        err = err.__cause__ or err.__context__
    return False


def _is_transient_one(err: BaseException) -> bool:
    import http.client

    if isinstance(err, ConnectionError | TimeoutError | http.client.IncompleteRead):
        return True
    if isinstance(err, http.client.RemoteDisconnected | http.client.BadStatusLine):
        return True
    names = {c.__name__ for c in type(err).__mro__}
    if names & {"MaxRetryError", "ProtocolError", "NewConnectionError", "ReadTimeoutError", "TimeoutError"}:
        return True
    status = transient_status(err)
    return status is not None and status in _TRANSIENT_STATUS


def call_with_retries(
    fn: Callable[[], R],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    retry_if: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Call ``fn()`` up to ``policy.attempts`` times while it fails with a transient error.

    Each failed attempt is logged at WARNING with ``what`` and the wait; the last error is
    re-raised unchanged. Non-transient errors are raised at once.

    Example:
        >>> calls = []
        >>> def flaky():
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionResetError("reset")
        ...     return "ok"
        >>> call_with_retries(flaky, what="demo", policy=RetryPolicy(attempts=3, backoff_factor=0, jitter=0))
        'ok'
    """
    policy = policy or DEFAULT_POLICY
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= policy.attempts or not retry_if(exc):
                raise
            wait = policy.wait(attempt)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                what,
                attempt,
                policy.attempts,
                _short_error(exc),
                wait,
            )
            sleep(wait)
    raise RuntimeError("unreachable")  # pragma: no cover
