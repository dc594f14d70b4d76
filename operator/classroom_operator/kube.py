"""The one module that writes to the Kubernetes API.

Reads come from kopf's watch streams and indexes; what is left are a few idempotent writes:
create a Job or ConfigMap (an existing one is success), delete a Job only if it is still the one
we decided about (a uid precondition), and merge patches of status and catalogue keys. Requests go
through aiohttp on the operator's event loop; credentials come from the in-cluster service account
or $KUBECONFIG, loaded by the official client's config loaders, as kopf itself does.

Why merge patches and not server-side apply, yet: a merge patch of a whole StatefulSet replaces
its lists (containers, env, volumes, tolerations) wholesale, so an entry another controller adds
to a pool's StatefulSet is dropped at the next patch; apply would own only the operator's own
entries. But every object here was created by POST and patched under the Update operation, and
the first apply from a field manager of that history leaves the fields the Update manager owns
behind: a field removed from the desired StatefulSet would then stay on the live one unless the
managed fields are migrated first (client-go's csaupgrade). And some writes must stay creates
whatever happens: the pseudonym Secret is created once and never rewritten, and a build Job of
that name is adopted, never changed. Adopting apply means: apply for the pools' StatefulSets,
Services and assignment ConfigMaps under one field manager with force, a one-time migration of
their managed fields, and create kept for the Secret and the Jobs; a change of write semantics
that wants its own integration tests, so not part of this module's restructuring.

RBAC these calls need (the chart grants them; see docs/contracts.md):
  jobs.batch get/create/delete, configmaps get/create/patch/delete, classroommodels/status and
  classrooms/status patch, statefulsets.apps and services create/patch/delete, secrets
  get/create/patch/delete (a Secret is only ever read by name: the operator cannot list or
  watch them), pods/log get (build pods, in the operator's namespace only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from classroom_operator.metrics import Metrics
from classroom_operator.names import API_VERSION
from classroom_operator.status import RefusedWrite

MODELS = f"/apis/{API_VERSION}/namespaces/{{namespace}}/classroommodels/{{name}}"
CLASSROOMS = f"/apis/{API_VERSION}/namespaces/{{namespace}}/classrooms/{{name}}"
JOBS = "/apis/batch/v1/namespaces/{namespace}/jobs"
CONFIGMAPS = "/api/v1/namespaces/{namespace}/configmaps"
STATEFULSETS = "/apis/apps/v1/namespaces/{namespace}/statefulsets"
SERVICES = "/api/v1/namespaces/{namespace}/services"
SECRETS = "/api/v1/namespaces/{namespace}/secrets"
MERGE_PATCH = "application/merge-patch+json"
RETRY_DELAY = 5.0
CONNECTIONS = 32
THROTTLE_RETRIES = 3
MAX_THROTTLE_DELAY = 10.0
log = logging.getLogger(__name__)


def throttle_delay(retry_after: str | None) -> float:
    """Seconds to wait after a 429: its Retry-After (seconds), bounded; 1 s without one."""
    try:
        seconds = float(retry_after) if retry_after is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.1), MAX_THROTTLE_DELAY)


def _resource(path: str) -> str:
    """The metric label for a path: the resource after its namespace, plus a subresource."""
    parts = path.strip("/").split("/")
    if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
        rest = parts[parts.index("namespaces") + 2:]
        return rest[0] + ("/" + rest[2] if len(rest) > 2 else "")
    return parts[-1]


class KubeError(RuntimeError):
    """The API refused a request for a reason retrying will not fix."""

    def __init__(self, text: str, status: int = 0, message: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.message = message or text


class WriteRefusedError(RuntimeError):
    """A write for a model that the API server refused, told as the object it was about."""

    def __init__(self, refused: RefusedWrite) -> None:
        super().__init__(refused.describe())
        self.refused = refused


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """Turn the API server's refusal of the writes inside into a `WriteRefusedError` naming
    `what` (e.g. "StatefulSet ns/name"), so the model's status can show it."""
    try:
        yield
    except KubeError as error:
        raise WriteRefusedError(RefusedWrite(what, error.status, error.message)) from error


@dataclass(frozen=True)
class Credentials:
    server: str
    ssl_context: ssl.SSLContext | bool
    authorization: Callable[[], str | None]


def load_credentials() -> Credentials:
    """In-cluster service account first, then $KUBECONFIG / ~/.kube/config."""
    import kubernetes.client
    import kubernetes.config

    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    context: ssl.SSLContext | bool
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
    else:
        context = False

    def authorization() -> str | None:
        # Called per request: the in-cluster loader refreshes rotated service-account tokens.
        token: str | None = (configuration.get_api_key_with_prefix("BearerToken")
                             or configuration.get_api_key_with_prefix("authorization"))
        return token

    return Credentials(server=configuration.host.rstrip("/"), ssl_context=context,
                       authorization=authorization)


class Kube:
    """Idempotent writes to the API, counted in the operator's metrics."""

    def __init__(self, credentials: Credentials, metrics: Metrics) -> None:
        self._credentials = credentials
        self._metrics = metrics
        # Lanes of connections of their own: a build Job must never wait for a free connection
        # behind a thousand status patches (one per model after a node change), the catalogue's
        # patches, or the pools' writes.
        # Build progress reads (a log through the node) get a lane of their own too: a slow node
        # must not hold up the writes.
        self._lanes = {lane: self._session()
                       for lane in ("jobs", "catalogue", "status", "pools", "progress")}

    def _session(self) -> aiohttp.ClientSession:
        # No total timeout: it would count the wait for a free connection, and a burst of
        # writes would time out in the queue and retry, adding load.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._credentials.ssl_context, limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60),
        )

    async def close(self) -> None:
        for session in self._lanes.values():
            await session.close()

    async def _request(self, method: str, path: str, *, body: Any = None,
                       content_type: str = "application/json",
                       params: dict[str, str] | None = None,
                       lane: str = "pools", answer: bool = True,
                       text_body: bool = False) -> tuple[int, Any]:
        """The status and the parsed answer; with `answer` False, a success's answer is not
        parsed (a status patch answers with the whole model, a thousand times a minute); with
        `text_body`, a success's answer is the text as it came (a pod's log)."""
        headers = {"Accept": "application/json", "User-Agent": "classroom-operator"}
        token = self._credentials.authorization()
        if token:
            headers["Authorization"] = token
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        resource = _resource(path)
        try:
            for attempt in range(THROTTLE_RETRIES + 1):
                async with self._lanes[lane].request(method, self._credentials.server + path,
                                                     data=data, headers=headers,
                                                     params=params) as response:
                    text = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                if status != 429 or attempt == THROTTLE_RETRIES:
                    break
                # API priority and fairness asks us to wait: a routine answer under load, told
                # at info and retried here as client-go does, not a failed handler (an error).
                self._metrics.api_requests.labels(method, resource, "429").inc()
                delay = throttle_delay(retry_after)
                log.info("%s %s throttled (HTTP 429), retrying in %.1f s", method, path, delay)
                await asyncio.sleep(delay)
            wanted = answer or status >= 300
            payload: Any
            if text_body and status < 300:
                payload = text.decode(errors="replace")
            else:
                payload = json.loads(text) if wanted and text.strip() else None
        except ValueError as error:
            self._metrics.api_requests.labels(method, resource, "error").inc()
            raise kopf.TemporaryError(f"{method} {path}: not JSON: {error}",
                                      delay=RETRY_DELAY) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            self._metrics.api_requests.labels(method, resource, "error").inc()
            raise kopf.TemporaryError(f"{method} {path}: {type(error).__name__}: {error}",
                                      delay=RETRY_DELAY) from error
        self._metrics.api_requests.labels(method, resource, str(status)).inc()
        if status == 429 or status >= 500:
            raise kopf.TemporaryError(f"{method} {path}: HTTP {status}", delay=RETRY_DELAY)
        return status, payload

    @staticmethod
    def _refused(method: str, path: str, status: int, payload: Any) -> KubeError:
        message = payload.get("message") if isinstance(payload, dict) else payload
        return KubeError(f"{method} {path}: HTTP {status}: {message}", status, str(message))

    async def create(self, collection: str, body: dict[str, Any]) -> bool:
        """Create an object; False (not an error) when one of that name already exists."""
        return await self.create_object(collection, body) is not None

    async def create_object(self, collection: str, body: dict[str, Any],
                            lane: str = "pools") -> dict[str, Any] | None:
        """Create an object and return it as stored; None when one of that name exists."""
        status, payload = await self._request("POST", collection, body=body, lane=lane)
        if status == 409:
            return None
        if status >= 300:
            raise self._refused("POST", collection, status, payload)
        return dict(payload)

    async def get(self, path: str, lane: str = "pools") -> dict[str, Any] | None:
        status, payload = await self._request("GET", path, lane=lane)
        if status == 404:
            return None
        if status >= 300:
            raise self._refused("GET", path, status, payload)
        return dict(payload)

    async def delete(self, path: str, *, uid: str | None = None, lane: str = "pools") -> bool:
        """Delete with background propagation; with `uid`, only that very object.

        False when it is already gone, or has been replaced by a newer object of the same name.
        """
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1",
                                   "propagationPolicy": "Background"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        status, payload = await self._request("DELETE", path, body=options, lane=lane)
        if status in (404, 409):
            return False
        if status >= 300:
            raise self._refused("DELETE", path, status, payload)
        return True

    async def merge_patch(self, path: str, patch: dict[str, Any], lane: str = "pools") -> bool:
        """Merge-patch an object or subresource; False when the object is gone."""
        status, payload = await self._request("PATCH", path, body=patch, content_type=MERGE_PATCH,
                                              lane=lane, answer=False)
        if status == 404:
            return False
        if status >= 300:
            raise self._refused("PATCH", path, status, payload)
        return True

    # -- the product's objects -------------------------------------------------------------

    async def create_job(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The Job as created, or None when one of that name exists."""
        return await self.create_object(JOBS.format(namespace=job["metadata"]["namespace"]), job,
                                        lane="jobs")

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(f"{JOBS.format(namespace=namespace)}/{name}", lane="jobs")

    async def delete_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        return await self.delete(f"{JOBS.format(namespace=namespace)}/{name}", uid=uid,
                                 lane="jobs")

    async def read_log_tail(self, namespace: str, pod: str, *, container: str, lines: int,
                            limit_bytes: int) -> str | None:
        """The last `lines` lines of a container's log (at most `limit_bytes`); None when the
        pod is gone or its container has no log yet."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        params = {"container": container, "tailLines": str(lines),
                  "limitBytes": str(limit_bytes)}
        status, payload = await self._request("GET", path, params=params, lane="progress",
                                              text_body=True)
        if status in (400, 404):
            return None
        if status >= 300:
            raise self._refused("GET", path, status, payload)
        return str(payload)

    async def patch_model_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        path = MODELS.format(namespace=namespace, name=name) + "/status"
        return await self.merge_patch(path, {"status": status}, lane="status")

    async def patch_classroom_status(self, namespace: str, name: str,
                                     status: dict[str, Any]) -> bool:
        path = CLASSROOMS.format(namespace=namespace, name=name) + "/status"
        return await self.merge_patch(path, {"status": status}, lane="status")

    async def ensure_configmap(self, configmap: dict[str, Any]) -> dict[str, Any]:
        """The ConfigMap as stored, created first when missing."""
        namespace, name = configmap["metadata"]["namespace"], configmap["metadata"]["name"]
        collection = CONFIGMAPS.format(namespace=namespace)
        await self.create(collection, configmap)
        stored = await self.get(f"{collection}/{name}")
        if stored is None:
            raise kopf.TemporaryError(f"ConfigMap {namespace}/{name} vanished", delay=RETRY_DELAY)
        return stored

    async def patch_configmap_data(self, namespace: str, name: str,
                                   data: dict[str, str | None]) -> bool:
        """Set (or, with None, remove) some keys of a ConfigMap's data."""
        path = f"{CONFIGMAPS.format(namespace=namespace)}/{name}"
        return await self.merge_patch(path, {"data": data}, lane="catalogue")

    # -- the inference pools' objects (reconcile/rollout.py) -------------------------------------

    async def create_secret(self, namespace: str, secret: dict[str, Any]) -> bool:
        """False when a Secret of that name exists; it is never rewritten."""
        return await self.create(SECRETS.format(namespace=namespace), secret)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's `data` (base64 values, as the API gives them); None when it is missing."""
        found = await self.get(f"{SECRETS.format(namespace=namespace)}/{name}")
        return None if found is None else dict(found.get("data") or {})

    async def write_secret(self, namespace: str, name: str, data: dict[str, str],
                           create: dict[str, Any] | None) -> bool:
        """Set a Secret's `data` keys (a patch that changes nothing leaves it as it is), or create
        it whole when it is missing and `create` is given. False when neither happened."""
        path = f"{SECRETS.format(namespace=namespace)}/{name}"
        if await self.merge_patch(path, {"data": data}):
            return True
        if create is None:
            return False
        if await self.create(SECRETS.format(namespace=namespace), create):
            return True
        return await self.merge_patch(path, {"data": data})  # created meanwhile by another pass

    async def delete_secret(self, namespace: str, name: str) -> bool:
        return await self.delete(f"{SECRETS.format(namespace=namespace)}/{name}")

    async def create_configmap(self, namespace: str, configmap: dict[str, Any]) -> bool:
        return await self.create(CONFIGMAPS.format(namespace=namespace), configmap)

    async def patch_configmap(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        return await self.merge_patch(f"{CONFIGMAPS.format(namespace=namespace)}/{name}", patch)

    async def delete_configmap(self, namespace: str, name: str) -> bool:
        return await self.delete(f"{CONFIGMAPS.format(namespace=namespace)}/{name}")

    async def create_service(self, namespace: str, service: dict[str, Any]) -> bool:
        return await self.create(SERVICES.format(namespace=namespace), service)

    async def delete_service(self, namespace: str, name: str) -> bool:
        return await self.delete(f"{SERVICES.format(namespace=namespace)}/{name}")

    async def create_statefulset(self, namespace: str, statefulset: dict[str, Any]) -> bool:
        return await self.create(STATEFULSETS.format(namespace=namespace), statefulset)

    async def patch_statefulset(self, namespace: str, statefulset: dict[str, Any]) -> bool:
        """Merge-patch the StatefulSet with the whole desired object (its lists are replaced)."""
        name = statefulset["metadata"]["name"]
        return await self.merge_patch(f"{STATEFULSETS.format(namespace=namespace)}/{name}",
                                      statefulset)

    async def delete_statefulset(self, namespace: str, name: str) -> bool:
        return await self.delete(f"{STATEFULSETS.format(namespace=namespace)}/{name}")
