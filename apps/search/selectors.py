"""Read-side queries of the search app: what is searchable, entities and their provenance.

Every function takes the caller's readable domain ids (``apps.domains.access``) or a
queryset already scoped by them; nothing here widens the scope.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import F, Q, QuerySet

from apps.documents.models import Chunk
from apps.domains.access import readable_domains
from apps.domains.models import Domain
from apps.search.models import Entity, Mention, Relation


def chunk_searchable_queryset(*, domain_ids: Sequence[int]) -> QuerySet[Chunk]:
    """Chunks users may find: those of each document's current version.

    A replaced document keeps its old versions for history; their chunks must not be
    found. A document without a current version yet (first processing) counts all of
    its chunks.
    """
    return Chunk.objects.filter(domain_id__in=list(domain_ids)).filter(
        Q(version_id=F("document__current_version_id")) | Q(document__current_version__isnull=True)
    )


def domain_list_readable(*, user, slugs: Sequence[str] | None = None) -> list[Domain]:
    """The caller's readable domains, or exactly ``slugs`` — an unknown or unreadable slug raises Domain.DoesNotExist."""
    readable = readable_domains(user).order_by("pk")
    if not slugs:
        return list(readable)
    wanted = list(dict.fromkeys(slugs))
    found = {d.slug: d for d in readable.filter(slug__in=wanted)}
    missing = [s for s in wanted if s not in found]
    if missing:
        raise Domain.DoesNotExist(f"Domain not found: {missing[0]}")
    return [found[s] for s in wanted]


def entity_list(*, user, domain_slug: str | None = None, prefix: str = "", entity_type: str = "") -> QuerySet[Entity]:
    queryset = Entity.objects.filter(domain__in=readable_domains(user), merged_into__isnull=True).select_related("domain")
    if domain_slug:
        queryset = queryset.filter(domain__slug=domain_slug)
    if prefix:
        queryset = queryset.filter(Q(name__istartswith=prefix) | Q(key__startswith=prefix.casefold()))
    if entity_type:
        queryset = queryset.filter(type=entity_type)
    return queryset.order_by("-mention_count", "name", "pk")


def entity_get(*, user, entity_id: int) -> Entity:
    """The entity if the caller may read its domain; Entity.DoesNotExist otherwise (the view answers 404)."""
    return Entity.objects.select_related("domain").get(pk=entity_id, domain__in=readable_domains(user))


def entity_mentions(*, entity: Entity, limit: int = 100) -> list[Mention]:
    return list(
        Mention.objects.filter(entity=entity, domain_id=entity.domain_id)
        .select_related("chunk", "chunk__document", "version")
        .order_by("chunk__document_id", "chunk__ordinal", "start")[:limit]
    )


def entities_by_key(*, domain_id: int, keys: Sequence[str]) -> dict[str, Entity]:
    return {e.key: e for e in Entity.objects.filter(domain_id=domain_id, key__in=list(keys))}


def relations_between(*, domain_ids: Sequence[int], entity_ids: Sequence[int], limit: int = 100) -> list[Relation]:
    ids = list(entity_ids)
    return list(
        Relation.objects.filter(domain_id__in=list(domain_ids), source_id__in=ids, target_id__in=ids, weight__gt=0)
        .select_related("source", "target")
        .order_by("-weight", "pk")[:limit]
    )
