"""The client's address, the one answer that throttles and login lockout both key on.

``X-Forwarded-For`` is read only when the connection comes from a trusted proxy
(``HEYSH_TRUSTED_PROXIES``, addresses or networks). The header is then walked from the
right, the end the proxies append to, skipping trusted hops: the first untrusted address
is the client. Whatever a client writes on the left of the header is never believed, so
sending a different ``X-Forwarded-For`` each time neither opens a new throttle bucket nor
escapes a lockout. With no trusted proxy configured the header is ignored entirely.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def _trusted_networks() -> tuple[Network, ...]:
    # settings.py has already refused entries that are not addresses or networks.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES)


@receiver(setting_changed)
def _forget_trusted_networks(*, setting, **kwargs):
    if setting == "TRUSTED_PROXIES":
        _trusted_networks.cache_clear()


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address) -> bool:
    return any(address in network for network in _trusted_networks())


def from_trusted_proxy(request) -> bool:
    """Whether the connection itself comes from a configured reverse proxy."""
    address = _address(request.META.get("REMOTE_ADDR", ""))
    return address is not None and _trusted(address)


def client_ip(request) -> str:
    """The address a request came from, as far as trusted proxies vouch for it."""
    remote = request.META.get("REMOTE_ADDR", "")
    current = _address(remote)
    if current is None or not _trusted(current):
        return remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address(hop)
        if address is None:
            break  # garbage in the header: the last address a trusted proxy vouched for stands
        current = address
        if not _trusted(address):
            break
    return str(current)
