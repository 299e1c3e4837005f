"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('devices', '0006_scanserver_moved_here'),
        ('scanprocesses', '0001_initial'),
        ('scanserver', '0003_delivery_destination_job_warnings'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.AlterField(
                model_name='scanjob',
                name='server',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='devices.scanserver'),
            ),
            migrations.AlterField(
                model_name='delivery',
                name='destination',
                field=models.ForeignKey(blank=True, help_text='the process destination this was planned from, while that row exists', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deliveries', to='scanprocesses.processdestination'),
            ),
            migrations.AlterField(
                model_name='scanjob',
                name='process',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='scanprocesses.scanprocess'),
            ),
            migrations.AlterField(
                model_name='scanjob',
                name='process_version',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='scanprocesses.scanprocessversion'),
            ),
            ],
            database_operations=[],
        ),
    ]
