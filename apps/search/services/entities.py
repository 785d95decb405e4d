"""Editorial changes to entities: merge two entities (reversibly) and undo a merge.

A merge moves the source's mentions to the target and repoints its relations. An edge
that would duplicate one the target already has is folded into it (its evidence moves);
an edge between the two merged entities would become a self-loop and is removed. Every
such move is written to an ``EntityMerge`` row, which is what ``entity_unmerge`` replays
backwards. The source row stays, with ``merged_into`` set, so its identity (key) is kept.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.core.exceptions import Conflict, Forbidden, ServiceError
from apps.domains.access import writable_domains
from apps.domains.services import domains_index_invalidate
from apps.search.models import Entity, EntityMerge, Mention, Relation, RelationEvidence


def _require_writer(user, entity: Entity) -> None:
    if not writable_domains(user).filter(pk=entity.domain_id).exists():
        raise Forbidden("Only owners and editors of this domain may merge its entities.")


def _evidence_rows(relation_id: int) -> list[dict]:
    return list(RelationEvidence.objects.filter(relation_id=relation_id).values("id", "chunk_id", "version_id", "snippet"))


def _reweigh(relation_ids) -> None:
    for relation in Relation.objects.filter(pk__in=set(relation_ids)).annotate(n=Count("evidence")):
        Relation.objects.filter(pk=relation.pk).update(weight=float(relation.n))


def _recount(*entities: Entity) -> None:
    for entity in entities:
        Entity.objects.filter(pk=entity.pk).update(mention_count=Mention.objects.filter(entity_id=entity.pk).count())


def entity_merge(*, user, source: Entity, target: Entity) -> EntityMerge:
    """Merge ``source`` into ``target`` (same domain); returns the record that can undo it."""
    _require_writer(user, source)
    if source.pk == target.pk:
        raise ServiceError("An entity cannot be merged into itself.")
    if source.domain_id != target.domain_id:
        raise ServiceError("Entities of different domains cannot be merged.", code="different_domains")
    if source.merged_into_id or target.merged_into_id:
        raise Conflict("One of these entities is already merged into another; undo that merge first.")
    undo = {"mentions_moved": [], "mentions_dropped": [], "relations_repointed": [], "relations_folded": [],
            "relations_dropped": [], "aliases_before": list(target.aliases)}
    with transaction.atomic():
        taken = set(Mention.objects.filter(entity=target).values_list("chunk_id", "start"))
        for mention in Mention.objects.filter(entity=source):
            if (mention.chunk_id, mention.start) in taken:  # the same span already counts for the target
                undo["mentions_dropped"].append({"chunk_id": mention.chunk_id, "version_id": mention.version_id,
                                                 "surface": mention.surface, "start": mention.start, "end": mention.end})
                mention.delete()
            else:
                undo["mentions_moved"].append(mention.pk)
        Mention.objects.filter(pk__in=undo["mentions_moved"]).update(entity=target)

        touched = []
        for relation in Relation.objects.filter(Q(source=source) | Q(target=source)).order_by("pk"):
            new_source = target.pk if relation.source_id == source.pk else relation.source_id
            new_target = target.pk if relation.target_id == source.pk else relation.target_id
            row = {"id": relation.pk, "source_id": relation.source_id, "target_id": relation.target_id,
                   "type": relation.type, "weight": relation.weight, "evidence": _evidence_rows(relation.pk)}
            if new_source == new_target:
                undo["relations_dropped"].append(row)
                relation.delete()
                continue
            existing = Relation.objects.filter(domain_id=relation.domain_id, source_id=new_source, target_id=new_target,
                                               type=relation.type).first()
            if existing is None:
                Relation.objects.filter(pk=relation.pk).update(source_id=new_source, target_id=new_target)
                undo["relations_repointed"].append({"id": relation.pk, "source_id": relation.source_id,
                                                    "target_id": relation.target_id})
                continue
            have = set(RelationEvidence.objects.filter(relation=existing).values_list("chunk_id", flat=True))
            moved = [e["id"] for e in row["evidence"] if e["chunk_id"] not in have]
            RelationEvidence.objects.filter(pk__in=moved).update(relation=existing)
            undo["relations_folded"].append({**row, "into": existing.pk, "evidence_moved": moved})
            relation.delete()
            touched.append(existing.pk)
        _reweigh(touched)

        if source.name not in target.aliases:
            target.aliases = [*target.aliases, source.name]
        target._change_reason = f"merged {source.name!r} into it"
        target.save(update_fields=["aliases", "updated_at"])
        source.merged_into = target
        source._change_reason = f"merged into {target.name!r}"
        source.save(update_fields=["merged_into", "updated_at"])
        _recount(source, target)
        domains_index_invalidate([source.domain_id])
        return EntityMerge.objects.create(domain_id=source.domain_id, source=source, target=target, undo=undo,
                                          merged_by=user if getattr(user, "pk", None) else None)


def entity_unmerge(*, user, merge: EntityMerge) -> Entity:
    """Undo a merge: everything it moved goes back; returns the restored source entity."""
    source, target = merge.source, merge.target
    _require_writer(user, source)
    if merge.undone_at is not None:
        raise Conflict("This merge was already undone.")
    undo = merge.undo
    with transaction.atomic():
        for row in undo["relations_folded"]:
            relation = Relation.objects.create(pk=row["id"], domain_id=source.domain_id, source_id=row["source_id"],
                                               target_id=row["target_id"], type=row["type"], weight=row["weight"])
            RelationEvidence.objects.filter(pk__in=row["evidence_moved"]).update(relation=relation)
            for evidence in row["evidence"]:
                if evidence["id"] not in row["evidence_moved"]:
                    RelationEvidence.objects.get_or_create(relation=relation, chunk_id=evidence["chunk_id"], defaults={
                        "version_id": evidence["version_id"], "snippet": evidence["snippet"]})
        _reweigh([row["into"] for row in undo["relations_folded"]])
        for row in undo["relations_dropped"]:
            relation = Relation.objects.create(pk=row["id"], domain_id=source.domain_id, source_id=row["source_id"],
                                               target_id=row["target_id"], type=row["type"], weight=row["weight"])
            for evidence in row["evidence"]:
                RelationEvidence.objects.create(relation=relation, chunk_id=evidence["chunk_id"],
                                                version_id=evidence["version_id"], snippet=evidence["snippet"])
        for row in undo["relations_repointed"]:
            Relation.objects.filter(pk=row["id"]).update(source_id=row["source_id"], target_id=row["target_id"])
        Mention.objects.filter(pk__in=undo["mentions_moved"], entity=target).update(entity=source)
        for row in undo["mentions_dropped"]:
            Mention.objects.get_or_create(entity=source, chunk_id=row["chunk_id"], start=row["start"], defaults={
                "version_id": row["version_id"], "domain_id": source.domain_id, "surface": row["surface"], "end": row["end"]})
        target.aliases = undo["aliases_before"]
        target._change_reason = f"undid the merge of {source.name!r}"
        target.save(update_fields=["aliases", "updated_at"])
        source.merged_into = None
        source._change_reason = "merge undone"
        source.save(update_fields=["merged_into", "updated_at"])
        _recount(source, target)
        domains_index_invalidate([source.domain_id])
        merge.undone_at = timezone.now()
        merge.undone_by = user if getattr(user, "pk", None) else None
        merge.save(update_fields=["undone_at", "undone_by"])
    return source
