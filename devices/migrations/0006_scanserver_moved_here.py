"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('devices', '0005_device_credential_indexes'),
        ('scanserver', '0003_delivery_destination_job_warnings'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='ScanServer',
                fields=[
                    ('guid', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                    ('name', models.CharField(max_length=128, unique=True)),
                    ('fqdn', models.CharField(help_text='host name devices use (psp:ScanRepository)', max_length=255)),
                    ('port', models.PositiveIntegerField(default=5362)),
                    ('use_tls', models.BooleanField(default=True)),
                    ('enabled', models.BooleanField(default=True)),
                    ('description', models.TextField(blank=True)),
                    ('last_seen', models.DateTimeField(blank=True, null=True)),
                    ('state', models.CharField(default='Idle', max_length=16)),
                ],
                options={
                    'db_table': 'scanserver_scanserver',
                    'ordering': ['name'],
                },
            ),
            migrations.AlterField(
                model_name='device',
                name='scan_server',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='devices', to='devices.scanserver'),
            ),
            ],
            database_operations=[],
        ),
    ]
