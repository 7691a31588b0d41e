"""Connecting to a CVAT server: :func:`connect` and the :class:`Server` handle.

All HTTP goes through one ``cvat_sdk`` client (its ``ApiClient``/urllib3 pool), so retries are
configured in one place: ``connect(retry=...)`` takes a :class:`RetryPolicy` (the default one
lives in :mod:`dl_utils.cvat_srv.retry`), a ``urllib3.util.Retry`` or a number of retries.

Credentials come from the arguments or ``CVAT_URL``/``CVAT_USER``/``CVAT_PASSWORD``/
``CVAT_ACCESS_TOKEN``. The password is used once to log in (and kept only by the scrubber that
masks it in error messages); the session cookie or token stays inside the SDK client. Neither appears in reprs, logs or exception messages
(:class:`~dl_utils.cvat_srv.errors.Scrubber`).

Example:
    >>> from dl_utils import cvat_srv
    >>> srv = cvat_srv.connect("http://127.0.0.1:8080", user="admin", password="...")  # doctest: +SKIP
    >>> srv                                                    # doctest: +SKIP
    Server('http://127.0.0.1:8080', user='admin')
    >>> task = srv.pull("http://127.0.0.1:8080/tasks/12")      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dl_utils.cvat_srv.errors import AuthError, ConnectError, CvatServerError, Scrubber, translate
from dl_utils.utils import get_logger, require

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.objects import ServerJob, ServerProject, ServerTask

__all__ = ["RetryPolicy", "Server", "connect"]

log = get_logger(__name__)

ENV_URL, ENV_USER, ENV_PASSWORD, ENV_TOKEN, ENV_ORG = (
    "CVAT_URL",
    "CVAT_USER",
    "CVAT_PASSWORD",
    "CVAT_ACCESS_TOKEN",
    "CVAT_ORG",
)


@runtime_checkable
class RetryPolicy(Protocol):
    """How HTTP requests are retried; passed to :func:`connect` (see :mod:`dl_utils.cvat_srv.retry`).

    ``urllib3_retry()`` returns what urllib3 takes as ``retries`` (a ``urllib3.util.Retry``, an
    int, or None for urllib3's default); it is installed on the SDK client's connection pool, so
    every request (API calls, chunked uploads, downloads, polling) obeys it.
    """

    def urllib3_retry(self) -> Any: ...


def _resolve_retry(retry: Any, timeout: Any) -> tuple[Any, Any, tuple[float, float]]:
    """``(package policy or None, urllib3 retries, (connect, read) timeout)`` for ``connect``'s arguments.

    ``retry``: None (the package default policy), a package ``RetryPolicy`` (installed with
    :func:`~dl_utils.cvat_srv.retry.install_retries`), another object with ``urllib3_retry()``, a
    ``urllib3.util.Retry`` or an int. ``timeout``: None (the policy's), seconds, or ``(connect, read)``.
    """
    import dataclasses

    from dl_utils.cvat_srv import retry as retry_mod

    policy = retry_mod.default_policy() if retry is None else retry
    ours = policy if isinstance(policy, retry_mod.RetryPolicy) else None
    base = ours or retry_mod.default_policy()
    if timeout is None:
        pair = (base.connect_timeout, base.read_timeout)
    elif isinstance(timeout, tuple | list) and len(timeout) == 2:
        pair = (float(timeout[0]), float(timeout[1]))
    elif isinstance(timeout, int | float) and not isinstance(timeout, bool):
        pair = (float(timeout), float(timeout))
    else:
        raise ValueError(f"timeout must be seconds or (connect, read) seconds, got {timeout!r}")
    if min(pair) <= 0:
        raise ValueError(f"timeouts must be > 0 seconds, got {timeout!r}")
    if ours is not None:
        ours = dataclasses.replace(ours, connect_timeout=pair[0], read_timeout=pair[1])
        return ours, None, pair
    return None, policy.urllib3_retry() if isinstance(policy, RetryPolicy) else policy, pair


def _sdk() -> Any:
    return require("cvat_sdk", "cvat", "talking to a CVAT server")


def _normalize_url(url: str) -> str:
    from urllib.parse import urlsplit

    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    if "@" in urlsplit(url).netloc:  # the URL is logged and written into pulled files
        raise ConnectError(
            "the server URL holds credentials (user:password@host): pass user=/password= or token= "
            "(or $CVAT_USER/$CVAT_PASSWORD/$CVAT_ACCESS_TOKEN) and the URL without them"
        )
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


class Server:
    """A logged-in connection to one CVAT server (make it with :func:`connect`).

    ``srv.sdk`` is the ``cvat_sdk.Client``; ``srv.api`` its ``ApiClient``. Navigation
    (``project``/``task``/``job``/``projects``/``tasks``/``jobs``), creation, pull/push/edit/undo,
    backups, dataset formats and transfers are methods here that delegate to the package's
    modules. Use it as a context manager (or call :meth:`close`) to log out.
    """

    def __init__(self, sdk_client: Any, *, user: str | None, org: str | None, scrub: Scrubber) -> None:
        self._sdk = sdk_client
        self.url: str = sdk_client.api_map.host
        self.user = user
        self.org = org
        self._scrub = scrub
        self.retry: Any = None  #: the RetryPolicy passed to connect (None: default), for batch code
        self.undo_dir: str | None = None  #: where pushes save the server's previous annotations

    # -- plumbing --------------------------------------------------------------------------

    @property
    def sdk(self) -> Any:
        """The underlying ``cvat_sdk.core.client.Client``."""
        return self._sdk

    @property
    def api(self) -> Any:
        """The underlying ``cvat_sdk.api_client.ApiClient`` (``srv.api.tasks_api`` ...)."""
        return self._sdk.api_client

    @contextmanager
    def errors(self, what: str = "") -> Iterator[None]:
        """Translate SDK/urllib3 exceptions in the block into one-line :class:`CvatServerError` s."""
        with translate(f"{self.url}: {what}" if what else self.url, self._scrub):
            yield

    def call(
        self, api: str, operation: str, id_: int, body: Any = None, *, what: str = "", **query: Any
    ) -> Any:
        """Call an SDK endpoint with plain JSON in and out (no model (de)serialization).

        ``srv.call("jobs", "retrieve_annotations", 5)`` → the LabeledData dict. The SDK's endpoint
        settings (path, method, auth) are used, so this goes through the same client, cookies,
        token and retry policy as every other call; it only skips building SDK models, which is
        slow for tens of thousands of shapes.
        """
        from dl_utils.cvat_srv.retry import call_with_retries, default_policy, installed_policy, is_transient

        ep = getattr(getattr(self.api, f"{api}_api"), f"{operation}_endpoint")
        s = ep.settings
        body_errors: set[int] = set()

        def once() -> Any:
            params = [(k, v) for k, v in query.items() if v is not None]
            if body is None:
                _, resp = self.api.call_api(
                    s["endpoint_path"],
                    s["http_method"],
                    path_params={"id": id_},
                    query_params=params,
                    auth_settings=s["auth"],
                    _parse_response=False,
                )
            else:
                resp = self._send_json(s, id_, params, body)
            try:  # the body is read here, after urllib3's retries: a cut is retried below
                return resp.data
            except Exception as exc:
                body_errors.add(id(exc))
                raise
            finally:
                resp.release_conn()

        where = what or f"{api[:-1] if api.endswith('s') else api} {id_}"
        policy = installed_policy(self._sdk) or default_policy()
        if str(s["http_method"]).upper() != "GET":
            policy = replace(policy, attempts=1)
        with self.errors(where):
            data = call_with_retries(
                once,
                what=f"{self.url}: {where}",
                policy=policy,
                retry_if=lambda exc: id(exc) in body_errors and is_transient(exc),
            )
        return json.loads(data) if data else None

    def _send_json(self, settings: Any, id_: int, params: list[tuple[str, Any]], body: Any) -> Any:
        """Send a plain-JSON body through the SDK's REST client (same auth, cookies, timeouts and
        retry policy as ``call_api``). ``call_api`` would first walk every value of the body through
        the SDK's model serializer, about 0.3 s per 5,000 shapes, which plain JSON does not need:
        the REST client encodes it with ``json.dumps``."""
        api = self.api
        host = api.configuration.host
        path = str(settings["endpoint_path"]).replace("{id}", str(int(id_)))
        headers = {**api.get_common_headers(), "Content-Type": "application/json"}
        method = settings["http_method"]
        api.update_params_for_auth(headers, params, settings["auth"], path, method, body, request_host=host)
        from cvat_sdk.api_client.exceptions import ApiException

        try:
            return api.request(
                method, host + path, query_params=params, headers=headers, body=body, _parse_response=False
            )
        except ApiException as exc:  # as call_api leaves it: the body as text, for the error message
            if isinstance(exc.body, bytes):
                exc.body = exc.body.decode("utf-8", errors="replace")
            raise

    def scrub(self, text: str) -> str:
        """``text`` with this connection's secrets replaced by ``***``."""
        return self._scrub(text)

    def __repr__(self) -> str:
        org = f", org={self.org!r}" if self.org else ""
        return f"Server({self.url!r}, user={self.user!r}{org})"

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (session logins) and close the connection pool."""
        try:
            with self.errors("logout"):
                self._sdk.logout()
        except CvatServerError as exc:  # logging out of a dead server is not an error
            log.debug("logout failed: %s", exc)
        self._sdk.close()

    def ui_url(self, kind: str, id_: int, task_id: int | None = None) -> str:
        """The browser URL of a project/task/job."""
        if kind == "job" and task_id is not None:
            return f"{self.url}/tasks/{task_id}/jobs/{id_}"
        return f"{self.url}/{kind}s/{id_}"

    # -- navigation (dl_utils.cvat_srv.objects) -------------------------------------------

    def project(self, ref: Any) -> ServerProject:
        """A project by id, name or UI URL (``…/projects/3``)."""
        from dl_utils.cvat_srv import objects

        return objects.get_project(self, ref)

    def task(self, ref: Any, *, project: Any = None) -> ServerTask:
        """A task by id, name (within ``project`` when given) or UI URL (``…/tasks/12``)."""
        from dl_utils.cvat_srv import objects

        return objects.get_task(self, ref, project=project)

    def job(self, ref: Any, *, task: Any = None) -> ServerJob:
        """A job by id or UI URL (``…/tasks/12/jobs/34``); ``task`` checks it belongs to that task."""
        from dl_utils.cvat_srv import objects

        return objects.get_job(self, ref, task=task)

    def projects(self, *, name: str | None = None, **filters: Any) -> list[ServerProject]:
        """Projects, optionally filtered (``name``, ``status``, ``assignee``, ``owner``)."""
        from dl_utils.cvat_srv import objects

        return objects.list_projects(self, name=name, **filters)

    def tasks(
        self,
        *,
        project: Any = None,
        status: str | None = None,
        assignee: str | None = None,
        name: str | None = None,
        **filters: Any,
    ) -> list[ServerTask]:
        """Tasks, optionally filtered by project (id/name/URL/object), status, assignee, name."""
        from dl_utils.cvat_srv import objects

        return objects.list_tasks(
            self, project=project, status=status, assignee=assignee, name=name, **filters
        )

    def jobs(
        self, *, task: Any = None, project: Any = None, status: str | None = None, assignee: str | None = None,
        stage: str | None = None, **filters: Any,
    ) -> list[ServerJob]:  # fmt: skip
        """Jobs, optionally filtered by task, project, state/status, assignee, stage."""
        from dl_utils.cvat_srv import objects

        return objects.list_jobs(
            self, task=task, project=project, status=status, assignee=assignee, stage=stage, **filters
        )

    # -- creation (dl_utils.cvat_srv.create) ------------------------------------------------

    def create_project(self, name: str, labels: Any, **kwargs: Any) -> ServerProject:
        """See :func:`dl_utils.cvat_srv.create.create_project`."""
        from dl_utils.cvat_srv import create

        return create.create_project(self, name, labels, **kwargs)

    def create_task(self, name: str, media: Any, **kwargs: Any) -> ServerTask:
        """See :func:`dl_utils.cvat_srv.create.create_task`."""
        from dl_utils.cvat_srv import create

        return create.create_task(self, name, media, **kwargs)

    # -- annotations (dl_utils.cvat_srv.annotations) ----------------------------------------

    def pull(self, ref: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.annotations.pull`."""
        import dl_utils.cvat_srv.annotations as ann

        return ann.pull(self, ref, **kwargs)

    def push(self, task: Any, target: Any = None, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.annotations.push`."""
        import dl_utils.cvat_srv.annotations as ann

        return ann.push(self, task, target, **kwargs)

    def undo(self, saved: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.annotations.undo`."""
        import dl_utils.cvat_srv.annotations as ann

        return ann.undo(self, saved)

    def edit(self, ref: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.annotations.edit` (``with srv.edit(task) as t: ...``)."""
        import dl_utils.cvat_srv.annotations as ann

        return ann.edit(self, ref, **kwargs)

    # -- backups, formats, transfers -----------------------------------------------------------

    def download_backup(self, ref: Any, path: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.backups.download_backup`."""
        from dl_utils.cvat_srv import backups

        return backups.download_backup(self, ref, path, **kwargs)

    def restore_backup(self, path: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.backups.restore_backup`."""
        from dl_utils.cvat_srv import backups

        return backups.restore_backup(self, path, **kwargs)

    def formats(self) -> Any:
        """See :func:`dl_utils.cvat_srv.formats.list_formats`."""
        from dl_utils.cvat_srv import formats

        return formats.list_formats(self)

    def export_dataset(self, ref: Any, format_name: str, path: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.formats.export_dataset`."""
        from dl_utils.cvat_srv import formats

        return formats.export_dataset(self, ref, format_name, path, **kwargs)

    def import_dataset(self, ref: Any, format_name: str, path: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.formats.import_dataset`."""
        from dl_utils.cvat_srv import formats

        return formats.import_dataset(self, ref, format_name, path, **kwargs)

    def copy_task(self, ref: Any, to_project: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.transfer.copy_task`."""
        from dl_utils.cvat_srv import transfer

        return transfer.copy_task(self, ref, to_project, **kwargs)

    def move_task(self, ref: Any, to_project: Any, **kwargs: Any) -> Any:
        """See :func:`dl_utils.cvat_srv.transfer.move_task`."""
        from dl_utils.cvat_srv import transfer

        return transfer.move_task(self, ref, to_project, **kwargs)


def _make_sdk_client(url: str, *, verify: bool, retry: Any, timeout: Any, ca_cert: str | None) -> Any:
    sdk = _sdk()
    from dl_utils.cvat_srv.retry import install_retries, install_timeouts

    policy, retries, pair = _resolve_retry(retry, timeout)
    from cvat_sdk.core.client import Client, Config

    config = Config(verify_ssl=verify, status_check_period=0.5)
    with translate(url):
        client = Client(url, config=config, check_server_version=False)
        conf = client.api_client.configuration
        if ca_cert:
            conf.ssl_ca_cert = ca_cert
        if retries is not None:
            conf.retries = retries
        if ca_cert or retries is not None:  # the pool is built from the configuration
            client.api_client.rest_client = type(client.api_client.rest_client)(conf)
        if policy is not None:  # retries and (connect, read) timeouts on every request
            install_retries(client, policy)
        else:
            install_timeouts(client, pair)
        about = _about(client, url)
    log.debug("connected to %s (CVAT %s, cvat_sdk %s)", url, about.version, sdk.version.VERSION)
    return client


def _about(client: Any, url: str) -> Any:
    """The server's /api/server/about; ConnectError when the answer is not a CVAT server's."""
    try:
        about, _ = client.api_client.server_api.retrieve_about()
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConnectError(f"{url}: does not answer like a CVAT server ({type(exc).__name__})") from None
    except Exception as exc:
        if type(exc).__name__ in ("ApiTypeError", "ApiValueError", "ApiAttributeError", "ApiKeyError"):
            raise ConnectError(f"{url}: does not answer like a CVAT server ({type(exc).__name__})") from None
        raise
    return about


def connect(
    url: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    org: str | None = None,
    verify: bool = True,
    ca_cert: str | None = None,
    retry: RetryPolicy | Any = None,
    timeout: float | tuple[float, float] | None = None,
) -> Server:
    """Log in to a CVAT server and return a :class:`Server`.

    Args:
        url: server URL (``http(s)://host:port``); default ``$CVAT_URL``. Without a scheme,
            ``https://`` is assumed (never a silent fallback to plain HTTP).
        user, password: login (default ``$CVAT_USER``/``$CVAT_PASSWORD``).
        token: a personal access token instead (default ``$CVAT_ACCESS_TOKEN``).
        org: organization slug: every request runs in that organization's context (default
            ``$CVAT_ORG``; ``""`` = the personal workspace).
        verify: verify the server's TLS certificate (on by default); ``ca_cert`` a CA bundle.
        retry: a :class:`RetryPolicy`, a ``urllib3.util.Retry`` or an int (default: the package
            policy from :mod:`dl_utils.cvat_srv.retry`).
        timeout: seconds, or ``(connect, read)`` seconds, for every request sent through this
            connection (API calls, uploads, downloads, polling); default: the retry policy's
            (10 s to connect, 300 s per socket read). A server that stops answering fails each
            try after the read timeout; idempotent requests are tried ``retry.total + 1`` times.

    Raises:
        ConnectError: the server cannot be reached (one line naming the host and cause).
        AuthError: no credentials, or wrong user name/password/token.

    Example:
        >>> srv = connect("http://127.0.0.1:8080", user="admin", password="admin-password")  # doctest: +SKIP
    """
    url = url or os.environ.get(ENV_URL)
    if not url:
        raise ConnectError(f"no CVAT server URL: pass url= or set ${ENV_URL}")
    url = _normalize_url(url)
    token = token or (os.environ.get(ENV_TOKEN) if not (user or password) else None)
    user = user or os.environ.get(ENV_USER)
    password = password or os.environ.get(ENV_PASSWORD)
    org = org if org is not None else os.environ.get(ENV_ORG)
    scrub = Scrubber([password, token])
    if not token and not (user and password):
        raise AuthError(
            f"{url}: no credentials: pass user= and password= (or token=), "
            f"or set ${ENV_USER}/${ENV_PASSWORD} (or ${ENV_TOKEN})"
        )
    client = _make_sdk_client(url, verify=verify, retry=retry, timeout=timeout, ca_cert=ca_cert)
    try:
        _login(client, url, user, password, token, scrub)
        if org is not None:
            client.organization_slug = org
        try:
            with translate(f"{url}: user", scrub):
                me, _ = client.api_client.users_api.retrieve_self()
        except AuthError:
            if token:
                raise AuthError(f"{url}: the access token was rejected (HTTP 401)") from None
            raise
    except BaseException:
        client.close()
        raise
    srv = Server(client, user=me.username, org=org or None, scrub=scrub)
    srv.retry = retry
    log.info("logged in to %s as %s", url, me.username)
    return srv


def _login(
    client: Any, url: str, user: str | None, password: str | None, token: str | None, scrub: Scrubber
) -> None:
    if token:
        try:  # access tokens came with cvat-sdk 2.2x; password logins work with older SDKs too
            from cvat_sdk.core.client import AccessTokenCredentials
        except ImportError:
            raise CvatServerError(
                f"{url}: this cvat-sdk cannot log in with an access token; "
                "upgrade it (pip install 'dl_utils[cvat]') or use a user name and password"
            ) from None
        client.login(AccessTokenCredentials(token))
        return
    try:
        with translate(f"{url}: login as {user!r}", scrub):
            client.login((user, password))
    except CvatServerError as exc:
        if "Unable to log in" in str(exc) or "HTTP 400" in str(exc):
            raise AuthError(f"{url}: login as {user!r} failed: wrong user name or password") from None
        raise
    cookies = client.api_client.cookies
    scrub.add(*(cookies[k].value for k in ("sessionid", "csrftoken") if k in cookies))
