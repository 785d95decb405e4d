"""Typed, fail-fast reading of the process environment.

Settings read every variable through one `Env` instance, once, at import. Each read
registers the variable (name, type, default, help) so the README table and the
`.env.example` can be checked against what the code really reads.

Nonsense is an error, not a silent default: ``HEYSH_DEBUG=maybe`` raises
``ImproperlyConfigured`` naming the variable and the accepted values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str
    default: Any
    help: str


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        self.registry: dict[str, Variable] = {}

    def _register(self, name: str, kind: str, default: Any, help: str) -> str | None:
        self.registry[name] = Variable(name, kind, default, help)
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return None
        return raw.strip()

    def is_set(self, name: str) -> bool:
        return bool(self.environ.get(name, "").strip())

    def str(self, name: str, default: str | None = None, help: str = "") -> str | None:
        raw = self._register(name, "string", default, help)
        return default if raw is None else raw

    def secret(self, name: str, default: str | None = None, help: str = "") -> str | None:
        """A string that must never be logged; registered as a secret in the docs."""
        raw = self._register(name, "secret", default, help)
        return default if raw is None else raw

    def bool(self, name: str, default: bool = False, help: str = "") -> bool:
        raw = self._register(name, "bool", default, help)
        if raw is None:
            return default
        word = raw.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a boolean; use one of "
            f"{', '.join(sorted(TRUE_WORDS))} or {', '.join(sorted(FALSE_WORDS))}."
        )

    def int(
        self,
        name: str,
        default: int,
        help: str = "",
        min_value: int | None = None,
        max_value: int | None = None,
    ) -> int:
        raw = self._register(name, "int", default, help)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
        if min_value is not None and value < min_value:
            raise ImproperlyConfigured(f"{name}={value} is below the minimum {min_value}.")
        if max_value is not None and value > max_value:
            raise ImproperlyConfigured(f"{name}={value} is above the maximum {max_value}.")
        return value

    def float(self, name: str, default: float, help: str = "", min_value: float | None = None) -> float:
        raw = self._register(name, "float", default, help)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
        if min_value is not None and value < min_value:
            raise ImproperlyConfigured(f"{name}={value} is below the minimum {min_value}.")
        return value

    def list(self, name: str, default: list[str] | None = None, help: str = "") -> list[str]:
        raw = self._register(name, "list", default or [], help)
        if raw is None:
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name: str, choices: list[str], default: str, help: str = "") -> str:
        raw = self._register(name, "choice: " + "|".join(choices), default, help)
        if raw is None:
            return default
        if raw not in choices:
            raise ImproperlyConfigured(f"{name}={raw!r} is not one of: {', '.join(choices)}.")
        return raw

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None, help: str = "") -> str | None:
        raw = self._register(name, "url", default, help)
        if raw is None:
            return default
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in schemes:
            raise ImproperlyConfigured(
                f"{name} must be a URL with scheme {' or '.join(schemes)}; got scheme {scheme or 'none'!r}."
            )
        return raw
