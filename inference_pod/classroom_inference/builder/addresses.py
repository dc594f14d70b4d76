"""Where a download may go: every hop's host resolved and checked before the builder connects.

A model URL (or a redirect it answers with) must not reach the node's link-local and cloud
metadata addresses, which hand out credentials to whoever asks from the node. Refused, at every
hop, when any address the host resolves to is one of:

  169.254.0.0/16, fe80::/10     link-local (169.254.169.254 is the metadata server of most clouds)
  0.0.0.0/8, ::                 "this host": connecting there reaches the node's own services
  fd00:ec2::254, 100.100.100.200  metadata servers outside the link-local ranges
  and the IPv4-mapped and IPv4-compatible IPv6 forms of the IPv4 ones (::ffff:169.254.169.254).

Loopback and private ranges stay allowed: in-cluster model servers and object stores live there.
The connection goes to the addresses that were checked, never to a second resolution of the name.
Redirects are followed only to http:// and https://.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlparse

FORBIDDEN_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128", "fd00:ec2::254/128",
    "100.100.100.200/32"))
REDIRECT_SCHEMES = ("http", "https")


class ForbiddenAddress(OSError):
    """The host resolves to an address the builder never connects to."""


class ForbiddenRedirect(Exception):
    """A redirect to a scheme other than http or https."""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, the deprecated compatible form
            ip = ipaddress.IPv4Address(int(ip))
    return any(ip in network for network in FORBIDDEN_NETWORKS)


def checked_connection(address: tuple[str, int], timeout: Any = None,
                       source_address: tuple[str, int] | None = None) -> socket.socket:
    """socket.create_connection, after checking every address the host resolves to."""
    host, port = address
    resolved = resolve(host, port)
    refused = [a for a in resolved if forbidden(a)]
    if refused:
        raise ForbiddenAddress(f"{host} resolves to {', '.join(refused)}, a link-local or "
                               "metadata address the builder does not connect to")
    last: OSError | None = None
    for candidate in resolved:
        try:
            return socket.create_connection((candidate, port), timeout, source_address)
        except OSError as exc:
            last = exc
    raise last or OSError(f"{host} resolves to no address")


def _checked(connection: type[http.client.HTTPConnection]) -> Callable[..., Any]:
    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        conn = connection(*args, **kwargs)
        # http.client connects (before any TLS) through this attribute.
        conn._create_connection = checked_connection  # type: ignore[attr-defined]
        return conn

    return make


def _check_proxied_target(req: urllib.request.Request) -> None:
    """Through a proxy (HTTP_PROXY / HTTPS_PROXY), the socket goes to the proxy, which is
    checked like any host; the target is checked here as far as this node can resolve it
    (names only the proxy can resolve are left to it)."""
    target = urlparse(req.full_url)
    if not target.hostname or target.hostname == urlparse(f"//{req.host}").hostname:
        return
    try:
        resolved = resolve(target.hostname, target.port or 80)
    except OSError:
        return
    refused = [a for a in resolved if forbidden(a)]
    if refused:
        raise urllib.error.URLError(ForbiddenAddress(
            f"{target.hostname} resolves to {', '.join(refused)}, a link-local or metadata "
            "address the builder does not connect to"))


class _CheckedHTTP(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        _check_proxied_target(req)
        return self.do_open(_checked(http.client.HTTPConnection), req)


class _CheckedHTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        _check_proxied_target(req)
        options = {"context": getattr(self, "_context", None)}
        if hasattr(self, "_check_hostname"):  # Python 3.11 passes it on; 3.12 dropped it
            options["check_hostname"] = self._check_hostname
        return self.do_open(_checked(http.client.HTTPSConnection), req, **options)


class _Redirects(urllib.request.HTTPRedirectHandler):
    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        # Checked before urllib's own test, which lets ftp:// through and words a refusal
        # as an HTTP error (retried as if the server were failing).
        location = headers.get("location") or headers.get("uri")
        if location:
            newurl = urljoin(req.full_url, location)
            if urlparse(newurl).scheme.lower() not in REDIRECT_SCHEMES:
                raise ForbiddenRedirect(f"the server redirected ({code}) to {newurl!r}; a "
                                        "download follows redirects to http:// and https:// "
                                        "only")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def opener() -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection, first request and redirects alike, is checked."""
    return urllib.request.build_opener(_CheckedHTTP(), _CheckedHTTPS(), _Redirects())
