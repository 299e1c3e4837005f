"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('scanserver', '0004_links_to_moved_models'),
        ('smc', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.DeleteModel(
                name='AuditEvent',
            ),
            migrations.RemoveField(
                model_name='processdestination',
                name='process',
            ),
            migrations.RemoveField(
                model_name='scanprocess',
                name='allowed_device_groups',
            ),
            migrations.RemoveField(
                model_name='scanprocess',
                name='published_version',
            ),
            migrations.RemoveField(
                model_name='scanprocess',
                name='scan_server',
            ),
            migrations.RemoveField(
                model_name='scanprocessversion',
                name='process',
            ),
            migrations.DeleteModel(
                name='DirectoryIdentity',
            ),
            migrations.DeleteModel(
                name='ProcessDestination',
            ),
            migrations.DeleteModel(
                name='ScanProcess',
            ),
            migrations.DeleteModel(
                name='ScanProcessVersion',
            ),
            ],
            database_operations=[],
        ),
    ]
