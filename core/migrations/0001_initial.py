"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('smc', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='AuditEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                    ('actor', models.CharField(db_index=True, max_length=255)),
                    ('action', models.CharField(db_index=True, max_length=64)),
                    ('object_type', models.CharField(db_index=True, max_length=64)),
                    ('object_id', models.CharField(blank=True, max_length=64)),
                    ('object_repr', models.CharField(blank=True, max_length=255)),
                    ('detail', models.JSONField(blank=True, default=dict, help_text='diff or other facts')),
                ],
                options={
                    'db_table': 'smc_auditevent',
                    'ordering': ['-at'],
                },
            ),
            ],
            database_operations=[],
        ),
    ]
