# The bootstrap's models move to the bootstrap app and EntityMerge to the search app, rows and
# all: their tables are renamed (no data is copied), the content types are relabelled (so
# admin log entries and permissions follow), and only the migration state moves.

from django.db import migrations

MOVED = {
    "bootstrap": ["domainbootstrap", "bootstrapstep", "researchcandidate", "generatedcontent",
                  "historicalgeneratedcontent", "reviewdecision"],
    "search": ["entitymerge"],
}


def relabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for app_label, models in MOVED.items():
        for model in models:
            if not content_type.objects.filter(app_label=app_label, model=model).exists():
                content_type.objects.filter(app_label="domains", model=model).update(app_label=app_label)


def restore_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for app_label, models in MOVED.items():
        content_type.objects.filter(app_label=app_label, model__in=models).update(app_label="domains")


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('domains', '0005_bootstrap_steps_on_engine'),
    ]

    operations = [
        migrations.RunPython(relabel_content_types, restore_content_types),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RenameIndex("bootstrapstep", new_name="bootstrap_bootstrapstep_lease", old_name="domains_bootstrapstep_lease"),
                migrations.RenameIndex("bootstrapstep", new_name="bootstrap_bootstrapstep_queued", old_name="domains_bootstrapstep_queued"),
                *[
                    migrations.AlterModelTable(name=model, table=f"{app_label}_{model}")
                    for app_label, models in MOVED.items() for model in models
                ],
            ],
            state_operations=[
        migrations.RemoveField(
            model_name='domainbootstrap',
            name='created_by',
        ),
        migrations.RemoveField(
            model_name='domainbootstrap',
            name='domain',
        ),
        migrations.RemoveField(
            model_name='generatedcontent',
            name='bootstrap',
        ),
        migrations.RemoveField(
            model_name='historicalgeneratedcontent',
            name='bootstrap',
        ),
        migrations.RemoveField(
            model_name='researchcandidate',
            name='bootstrap',
        ),
        migrations.RemoveField(
            model_name='reviewdecision',
            name='bootstrap',
        ),
        migrations.RemoveField(
            model_name='entitymerge',
            name='domain',
        ),
        migrations.RemoveField(
            model_name='entitymerge',
            name='merged_by',
        ),
        migrations.RemoveField(
            model_name='entitymerge',
            name='source',
        ),
        migrations.RemoveField(
            model_name='entitymerge',
            name='target',
        ),
        migrations.RemoveField(
            model_name='entitymerge',
            name='undone_by',
        ),
        migrations.RemoveField(
            model_name='generatedcontent',
            name='domain',
        ),
        migrations.RemoveField(
            model_name='generatedcontent',
            name='edited_by',
        ),
        migrations.RemoveField(
            model_name='generatedcontent',
            name='entity',
        ),
        migrations.RemoveField(
            model_name='historicalgeneratedcontent',
            name='domain',
        ),
        migrations.RemoveField(
            model_name='historicalgeneratedcontent',
            name='edited_by',
        ),
        migrations.RemoveField(
            model_name='historicalgeneratedcontent',
            name='entity',
        ),
        migrations.RemoveField(
            model_name='historicalgeneratedcontent',
            name='history_user',
        ),
        migrations.RemoveField(
            model_name='researchcandidate',
            name='document',
        ),
        migrations.RemoveField(
            model_name='researchcandidate',
            name='source_document',
        ),
        migrations.RemoveField(
            model_name='reviewdecision',
            name='decided_by',
        ),
        migrations.RemoveField(
            model_name='reviewdecision',
            name='domain',
        ),
        migrations.DeleteModel(
            name='BootstrapStep',
        ),
        migrations.DeleteModel(
            name='DomainBootstrap',
        ),
        migrations.DeleteModel(
            name='EntityMerge',
        ),
        migrations.DeleteModel(
            name='GeneratedContent',
        ),
        migrations.DeleteModel(
            name='HistoricalGeneratedContent',
        ),
        migrations.DeleteModel(
            name='ResearchCandidate',
        ),
        migrations.DeleteModel(
            name='ReviewDecision',
        ),
                ],
        ),
    ]
