"""The graph step: resolve extracted entities within the domain and write the graph rows.

PostgreSQL is the graph's source of truth (DESIGN §4). For one document version this
module writes, idempotently and in one transaction:

- entities, by normalized key (casefold, punctuation stripped, whitespace collapsed,
  simple plurals singularized, known aliases and editor merges followed), so
  "Neo4j", "neo4j" and "Neo4J" are one entity;
- the version's mentions and relation evidence, replacing whatever the version (a
  retried step) or an older version of the same document contributed before;
- relation weights and entity mention counts of every touched row; entities and
  relations left without provenance are deleted.

Graph writes of one domain are serialized by a transaction-scoped advisory lock on
PostgreSQL: concurrent documents cannot deadlock on shared entities and the counts
they recompute are exact. Then the configured GRAPH_STORES backend gets the
version's contribution (a projection; the embedded store reads these tables).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from apps.core import metrics
from apps.core.backends import graph_stores
from apps.core.locks import domain_graph_lock
from apps.core.workflows.engine import one_by_one
from apps.documents.models import Chunk, DocumentVersion
from apps.search.extraction import ENTITY_TYPES, RELATION_TYPES, extractions_cached
from apps.search.models import Entity, EntityType, Mention, Relation, RelationEvidence
from apps.search.projections import graph_contribution

KEY_MAX = 200
# Words whose trailing "s" is not a plural.
NOT_PLURAL = {
    "postgres",
    "kubernetes",
    "redis",
    "series",
    "species",
    "news",
    "physics",
    "mathematics",
    "economics",
    "analysis",
    "aws",
    "dns",
    "https",
    "ios",
    "windows",
    "jenkins",
    "pandas",
    "express",
    "gas",
    "bus",
    "status",
    "corpus",
    "virus",
    "campus",
    "census",
    "atlas",
    "canvas",
    "chaos",
    "thesis",
    "basis",
    "axis",
    "lens",
    "mars",
    "paris",
    "texas",
    "athens",
    "wales",
    "netherlands",
    "philippines",
    "bahamas",
    "swiss",
    "always",
    "perhaps",
}
# Spelling variants that name the same thing, as normalized keys.
ALIASES = {
    "postgres": "postgresql",
    "psql": "postgresql",
    "k8s": "kubernetes",
    "js": "javascript",
    "ts": "typescript",
    "elastic search": "elasticsearch",
    "tensor flow": "tensorflow",
    "py torch": "pytorch",
    "neo 4j": "neo4j",
    "github com": "github",
    "mongo": "mongodb",
    "mongo db": "mongodb",
    "node js": "nodejs",
    "node": "nodejs",
    "usa": "united states",
    "us": "united states",
    "uk": "united kingdom",
    "llms": "llm",
}
SPECIFICITY = {EntityType.CONCEPT: 1, EntityType.OTHER: 0}


def singularize(word: str) -> str:
    if len(word) <= 3 or word in NOT_PLURAL or any(ch.isdigit() for ch in word):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os", "as")):
        return word[:-1]
    return word


def normalize_key(name: str) -> str:
    """The identity of an entity name within a domain."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = text.replace("+", " plus ").replace("#", " sharp ").replace("&", " and ")
    text = re.sub(r"(?<=\w)['’.](?=\w)", "", text)  # intra-word: "u.s.a", "o'neil"
    text = re.sub(r"[^\w\s]|_", " ", text)
    words = text.split()
    if words and words[0] in ("the", "a", "an") and len(words) > 1:
        words = words[1:]
    if not words:
        return ""
    words[-1] = singularize(words[-1])
    key = " ".join(words)
    return ALIASES.get(key, key)[:KEY_MAX]


class EntityResolver:
    """Maps surface names to entity ids of one domain, creating entities as needed."""

    def __init__(self, domain_id: int):
        self.domain_id = domain_id
        # Editor-curated aliases and merges of existing entities, as normalized keys.
        self.alias_keys: dict[str, str] = {}
        for key, aliases in (
            Entity.objects.filter(domain_id=domain_id).exclude(aliases=[]).values_list("key", "aliases")
        ):
            for alias in aliases or []:
                alias_key = normalize_key(str(alias))
                if alias_key and alias_key != key:
                    self.alias_keys.setdefault(alias_key, key)

    def key(self, name: str) -> str:
        key = normalize_key(name)
        return self.alias_keys.get(key, key)

    def upsert(self, *, types: dict[str, Counter], names: dict[str, Counter]) -> tuple[dict[str, int], list[str]]:
        """Entity id per key (following editor merges), and the keys of the entities this call created."""
        keys = sorted(types)
        existing = {e.key: e for e in Entity.objects.filter(domain_id=self.domain_id, key__in=keys)}
        new = [
            Entity(
                domain_id=self.domain_id,
                key=key,
                name=names[key].most_common(1)[0][0][:KEY_MAX],
                type=_best_type(types[key]),
            )
            for key in keys
            if key not in existing
        ]
        Entity.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
        if new:
            existing = {e.key: e for e in Entity.objects.filter(domain_id=self.domain_id, key__in=keys)}
        upgrades = []
        for key, entity in existing.items():
            best = _best_type(types[key])
            if SPECIFICITY.get(entity.type, 2) < SPECIFICITY.get(best, 2):
                entity.type = best
                upgrades.append(entity)
        if upgrades:
            Entity.objects.bulk_update(upgrades, ["type"])
        ids = {}
        for key, entity in existing.items():
            target, seen = entity, set()
            while target.merged_into_id and target.pk not in seen:  # an editor merged it: follow
                seen.add(target.pk)
                target = Entity.objects.get(pk=target.merged_into_id)
            ids[key] = target.pk
        return ids, [e.key for e in new]


def _best_type(counter: Counter) -> str:
    return max(counter.items(), key=lambda kv: (SPECIFICITY.get(kv[0], 2), kv[1]))[0]


def _domain_lock(domain_id: int) -> None:
    domain_graph_lock(domain_id)


def graph_recount(*, entity_ids: Iterable[int], relation_ids: Iterable[int]) -> tuple[int, int]:
    """Recompute counts and weights of the given rows; delete those left without provenance."""
    entity_ids, relation_ids = list(set(entity_ids)), list(set(relation_ids))
    evidence = (
        RelationEvidence.objects.filter(relation=OuterRef("pk")).values("relation").annotate(n=Count("pk")).values("n")
    )
    Relation.objects.filter(pk__in=relation_ids).update(weight=Coalesce(Subquery(evidence), Value(0)))
    removed_relations, _ = Relation.objects.filter(pk__in=relation_ids, weight=0).delete()
    mentions = Mention.objects.filter(entity=OuterRef("pk")).values("entity").annotate(n=Count("pk")).values("n")
    Entity.objects.filter(pk__in=entity_ids).update(mention_count=Coalesce(Subquery(mentions), Value(0)))
    orphans = Entity.objects.filter(pk__in=entity_ids, mention_count=0, merged_from__isnull=True)
    removed_entities = orphans.count()
    if removed_entities:
        orphans.delete()
    _rename_to_most_frequent_surface(entity_ids)
    return removed_entities, removed_relations


def graph_touched(*, version_ids: Iterable[int]) -> dict[str, set[int]]:
    """The entities and relations the given versions mention or give evidence for."""
    version_ids = list(version_ids)
    return {
        "entity_ids": set(Mention.objects.filter(version_id__in=version_ids).values_list("entity_id", flat=True)),
        "relation_ids": set(
            RelationEvidence.objects.filter(version_id__in=version_ids).values_list("relation_id", flat=True)
        ),
    }


def graph_prune(*, domain_id: int, entity_ids: Iterable[int], relation_ids: Iterable[int]) -> tuple[int, int]:
    """After mentions/evidence were removed (a document deleted): recount the touched rows and
    delete the entities and relations left without provenance. Serialized with the graph step."""
    with transaction.atomic():
        _domain_lock(domain_id)
        return graph_recount(entity_ids=entity_ids, relation_ids=relation_ids)


def _rename_to_most_frequent_surface(entity_ids: list[int]) -> None:
    """The display name follows usage, unless an editor gave the entity a name of its own."""
    surfaces: dict[int, Counter] = defaultdict(Counter)
    for entity_id, surface, n in (
        Mention.objects.filter(entity_id__in=entity_ids).values_list("entity_id", "surface").annotate(n=Count("pk"))
    ):
        surfaces[entity_id][surface] += n
    renamed = []
    for entity in Entity.objects.filter(pk__in=list(surfaces)).only("pk", "key", "name"):
        best = surfaces[entity.pk].most_common(1)[0][0]
        if entity.name != best and normalize_key(entity.name) == entity.key:
            entity.name = best
            renamed.append(entity)
    if renamed:
        Entity.objects.bulk_update(renamed, ["name"])


def version_graph_update(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    return versions_graph_update(versions=[version], heartbeat=heartbeat)[version.pk]


def versions_graph_update(
    *, versions: list[DocumentVersion], heartbeat: Callable[[], None] | None = None
) -> dict[int, dict]:
    """The graph rows of several versions of one domain (of different documents), in one transaction.

    Returns the metrics per version id. Each version's share replaces exactly what it, or an
    older version of its document, contributed before."""
    domain_id = versions[0].domain_id
    if any(v.domain_id != domain_id for v in versions) or len({v.document_id for v in versions}) != len(versions):
        raise ValueError("one domain and one version per document per call")
    version_ids = [v.pk for v in versions]
    chunks = list(
        Chunk.objects.filter(version_id__in=version_ids)
        .order_by("version_id", "ordinal")
        .values_list("pk", "version_id", "content_hash", "text")
    )
    results = extractions_cached(chunks=[(h, t) for _, _, h, t in chunks], heartbeat=heartbeat)
    numbers = {v.pk: (v.document_id, v.number) for v in versions}
    older: dict[int, list[int]] = {v.pk: [] for v in versions}
    by_document = {v.document_id: v for v in versions}
    for pk, document_id, number in DocumentVersion.objects.filter(document_id__in=list(by_document)).values_list(
        "pk", "document_id", "number"
    ):
        version = by_document[document_id]
        if number < numbers[version.pk][1]:
            older[version.pk].append(pk)
    replaced_versions = [*version_ids, *(pk for pks in older.values() for pk in pks)]
    with transaction.atomic():
        _domain_lock(domain_id)
        # A document deleted while its chunks were extracted: its chunks are gone now (the delete
        # holds this lock), so nothing may point at them (mention -> chunk foreign key).
        alive = set(Chunk.objects.filter(version_id__in=version_ids).values_list("pk", flat=True))
        chunks = [row for row in chunks if row[0] in alive]
        resolver = EntityResolver(domain_id)
        types: dict[str, Counter] = defaultdict(Counter)
        names: dict[str, Counter] = defaultdict(Counter)
        first_seen: dict[str, int] = {}
        mentions: dict[tuple[str, int, int], tuple[str, int, int]] = {}
        evidence: dict[tuple[str, str, str], dict[int, tuple[int, str]]] = defaultdict(dict)
        for chunk_id, version_id, content_hash, _ in chunks:
            extraction = results[content_hash]
            local: dict[str, str] = {}
            for found in extraction.entities:
                key = resolver.key(found.name)
                if not key or found.start < 0 or found.end < found.start:
                    continue
                local[found.name.casefold()] = local[normalize_key(found.name)] = key
                types[key][found.type if found.type in ENTITY_TYPES else EntityType.OTHER] += 1
                names[key][found.name[:KEY_MAX]] += 1
                first_seen.setdefault(key, version_id)
                mentions.setdefault((key, chunk_id, found.start), (found.name[:KEY_MAX], found.end, version_id))
            for found in extraction.relations:
                source = local.get(found.source.casefold()) or local.get(normalize_key(found.source))
                target = local.get(found.target.casefold()) or local.get(normalize_key(found.target))
                if source and target and source != target and found.type in RELATION_TYPES:
                    evidence[(source, target, found.type)].setdefault(chunk_id, (version_id, found.evidence[:1000]))
        entity_ids, created_keys = resolver.upsert(types=types, names=names)

        touched_entities = set(
            Mention.objects.filter(version_id__in=replaced_versions).values_list("entity_id", flat=True)
        )
        touched_relations = set(
            RelationEvidence.objects.filter(version_id__in=replaced_versions).values_list("relation_id", flat=True)
        )
        # Replace exactly these documents' share: what a previous attempt or an older version wrote.
        Mention.objects.filter(version_id__in=replaced_versions).delete()
        RelationEvidence.objects.filter(version_id__in=replaced_versions).delete()

        Mention.objects.bulk_create(
            [
                Mention(
                    entity_id=entity_ids[key],
                    chunk_id=chunk_id,
                    version_id=version_id,
                    domain_id=domain_id,
                    surface=surface,
                    start=start,
                    end=end,
                )
                for (key, chunk_id, start), (surface, end, version_id) in mentions.items()
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        edges = {
            (entity_ids[s], entity_ids[t], rel_type): chunk_snippets
            for (s, t, rel_type), chunk_snippets in evidence.items()
            if entity_ids[s] != entity_ids[t]  # two keys merged into one entity by an editor
        }
        Relation.objects.bulk_create(
            [Relation(domain_id=domain_id, source_id=s, target_id=t, type=k, weight=1.0) for s, t, k in edges],
            ignore_conflicts=True,
            batch_size=2000,
        )
        relation_ids = {}
        if edges:
            endpoints = {s for s, _, _ in edges} | {t for _, t, _ in edges}
            for pk, s, t, k in Relation.objects.filter(
                domain_id=domain_id, source_id__in=endpoints, target_id__in=endpoints
            ).values_list("pk", "source_id", "target_id", "type"):
                if (s, t, k) in edges:
                    relation_ids[(s, t, k)] = pk
        RelationEvidence.objects.bulk_create(
            [
                RelationEvidence(
                    relation_id=relation_ids[edge], chunk_id=chunk_id, version_id=version_id, snippet=snippet
                )
                for edge, chunk_snippets in edges.items()
                for chunk_id, (version_id, snippet) in chunk_snippets.items()
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        touched_entities |= set(entity_ids.values())
        touched_relations |= set(relation_ids.values())
        removed_entities, removed_relations = graph_recount(entity_ids=touched_entities, relation_ids=touched_relations)

    store = graph_stores["default"]
    if store.needs_contributions:  # the embedded store reads the tables written above
        for version in versions:
            store.replace_version(graph_contribution(version), previous_version_ids=older[version.pk])
    per_version = {
        pk: {"entities": set(), "entities_created": 0, "mentions": 0, "relations": set(), "evidence": 0}
        for pk in version_ids
    }
    for key in created_keys:
        per_version[first_seen[key]]["entities_created"] += 1
    for (key, _, _), (_, _, version_id) in mentions.items():
        per_version[version_id]["mentions"] += 1
        per_version[version_id]["entities"].add(entity_ids[key])
    for edge, chunk_snippets in edges.items():
        for version_id, _ in chunk_snippets.values():
            per_version[version_id]["evidence"] += 1
            per_version[version_id]["relations"].add(relation_ids[edge])
    out = {}
    for pk, counts in per_version.items():
        out[pk] = {
            **counts,
            "entities": len(counts["entities"]),
            "relations": len(counts["relations"]),
            "entities_removed": removed_entities,
            "relations_removed": removed_relations,
        }
        if len(versions) > 1:
            out[pk]["batch"] = len(versions)
    for kind in ("entities_created", "mentions", "evidence"):
        metrics.heysh_pipeline_items_written_total.labels(kind=kind.removesuffix("_created")).inc(
            sum(o[kind] for o in out.values())
        )
    metrics.heysh_pipeline_items_written_total.labels(kind="relations").inc(len(relation_ids))
    return out


def graph_step(contexts) -> dict[int, dict | Exception]:
    """Graph rows of several documents: one transaction (one domain lock, one resolver) per domain.

    A group that fails as a whole is retried document by document, so a bad document fails
    alone. Two versions of one document never share a pass (the newer replaces the older)."""
    groups: dict[int, list] = defaultdict(list)
    alone = []
    for ctx in contexts:
        group = groups[ctx.version.domain_id]
        if any(c.version.document_id == ctx.version.document_id for c in group):
            alone.append([ctx])
        else:
            group.append(ctx)
    outcomes: dict[int, dict | Exception] = {}
    for group in [*groups.values(), *alone]:
        try:
            by_version = versions_graph_update(versions=[c.version for c in group], heartbeat=group[0].heartbeat)
            outcomes.update({c.pk: by_version[c.version.pk] for c in group})
        except Exception as exc:
            if len(group) == 1:
                outcomes[group[0].pk] = exc
                continue
            outcomes.update(one_by_one(group, graph_step))
    return outcomes
