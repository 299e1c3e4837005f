"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('devices', '0006_scanserver_moved_here'),
        ('scanserver', '0004_links_to_moved_models'),
        ('smc', '0002_models_moved_out'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.DeleteModel(
                name='ScanServer',
            ),
            ],
            database_operations=[],
        ),
    ]
