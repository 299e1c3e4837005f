"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('smc', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='DirectoryIdentity',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('sid', models.CharField(max_length=184, unique=True)),
                    ('dn', models.CharField(blank=True, max_length=1024)),
                    ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='directory_identity', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'smc_directoryidentity',
                },
            ),
            ],
            database_operations=[],
        ),
    ]
