"""The bootstrap's models and EntityMerge moved out of the domains app by renaming their tables:
a database that holds documents, runs and a bootstrap keeps every row across the migration."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("domains", "0005_bootstrap_steps_on_engine"),
    ("documents", "0002_steps_on_engine"),
    ("search", "0001_initial"),
    ("bootstrap", None),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
]
AFTER = [("domains", "0006_bootstrap_and_merges_move_out"), ("search", "0002_entitymerge"), ("bootstrap", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


@pytest.mark.django_db(transaction=True)
def test_moving_the_models_keeps_every_row():
    old = _migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="mover")
    domain = old.get_model("domains", "Domain").objects.create(slug="moving", name="Moving")
    document = old.get_model("documents", "Document").objects.create(domain=domain, title="Doc", source="text", created_by=user)
    version = old.get_model("documents", "DocumentVersion").objects.create(
        document=document, domain=domain, number=1, content_hash="h" * 64
    )
    run = old.get_model("documents", "ProcessingRun").objects.create(version=version, document=document, domain=domain)
    old.get_model("documents", "StepRun").objects.create(run=run, step="analyze", ordinal=0, status="succeeded")
    bootstrap = old.get_model("domains", "DomainBootstrap").objects.create(domain=domain, status="in_review", created_by=user)
    old.get_model("domains", "BootstrapStep").objects.create(bootstrap=bootstrap, step="research", ordinal=0, status="succeeded")
    old.get_model("domains", "ResearchCandidate").objects.create(bootstrap=bootstrap, key="k", kind="seed_text", title="T",
                                                                 reason="given", document=document)
    old.get_model("domains", "GeneratedContent").objects.create(bootstrap=bootstrap, domain=domain, section="overview", body="B")
    old.get_model("domains", "ReviewDecision").objects.create(bootstrap=bootstrap, domain=domain, round=1, decision="approve")
    entity = old.get_model("search", "Entity").objects.create(domain=domain, name="Ada", key="ada", type="person")
    other = old.get_model("search", "Entity").objects.create(domain=domain, name="Ada L.", key="ada l", type="person")
    old.get_model("domains", "EntityMerge").objects.create(domain=domain, source=other, target=entity, undo={"m": 1})
    content_type = old.get_model("contenttypes", "ContentType").objects
    content_type.get_or_create(app_label="domains", model="domainbootstrap")

    try:
        new = _migrate(AFTER)
        moved = new.get_model("bootstrap", "DomainBootstrap").objects.get()
        assert (moved.domain_id, moved.status) == (domain.pk, "in_review")
        assert new.get_model("bootstrap", "BootstrapStep").objects.get().bootstrap_id == moved.pk
        assert new.get_model("bootstrap", "ResearchCandidate").objects.get().document_id == document.pk
        assert new.get_model("bootstrap", "GeneratedContent").objects.get().body == "B"
        assert new.get_model("bootstrap", "ReviewDecision").objects.get().decision == "approve"
        assert new.get_model("search", "EntityMerge").objects.get().undo == {"m": 1}
        assert new.get_model("documents", "StepRun").objects.get().status == "succeeded"
        labels = set(new.get_model("contenttypes", "ContentType").objects.filter(model="domainbootstrap").values_list("app_label", flat=True))
        assert labels == {"bootstrap"}, "admin log entries and permissions follow the model"
        tables = set(connection.introspection.table_names())
        assert {"bootstrap_domainbootstrap", "search_entitymerge"} <= tables
        assert not {"domains_domainbootstrap", "domains_entitymerge"} & tables
    finally:  # leave the schema as the rest of the suite expects it
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
