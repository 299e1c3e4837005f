"""The embedded directory gets its own store of published copies (``PublishedPSP``).

Until now the embedded directory read a process's ``published_version`` while its state was
``published``; this fills the new table from exactly those processes, with what
``EmbeddedDirectory.read_published`` returned for them: the version's PSP XML, display name and
allowed groups from the version's ``settings_snapshot`` when recorded there (else the process's),
and the scan server's host name. Reversing empties the table (the scan process rows are untouched).
"""

from typing import Any

import django.utils.timezone
from django.db import migrations, models


def fill_published(apps: Any, schema_editor: Any) -> None:
    ScanProcess = apps.get_model("scanprocesses", "ScanProcess")
    PublishedPSP = apps.get_model("directory", "PublishedPSP")
    db = schema_editor.connection.alias
    published = (
        ScanProcess.objects.using(db)
        .filter(state="published")
        .exclude(published_version=None)
        .select_related("published_version", "scan_server")
    )
    rows = []
    for process in published:
        version = process.published_version
        snapshot = version.settings_snapshot if isinstance(version.settings_snapshot, dict) else {}
        rows.append(
            PublishedPSP(
                guid=process.guid,
                display_name=str(snapshot.get("display_name", process.display_name)),
                psp_xml=version.psp_xml,
                allowed_groups=list(snapshot.get("allowed_groups", process.allowed_groups)),
                server_name=process.scan_server.fqdn if process.scan_server else "",
                published_at=version.created_at,
            )
        )
    PublishedPSP.objects.using(db).bulk_create(rows)


def empty_published(apps: Any, schema_editor: Any) -> None:
    apps.get_model("directory", "PublishedPSP").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('directory', '0001_initial'),
        ('scanprocesses', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='PublishedPSP',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('guid', models.UUIDField(unique=True)),
                ('display_name', models.CharField(max_length=255)),
                ('psp_xml', models.TextField(help_text='canonical psp:PostScanProcess of the published version')),
                ('allowed_groups', models.JSONField(blank=True, default=list)),
                ('server_name', models.CharField(blank=True, max_length=255)),
                ('published_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'verbose_name': 'published PSP',
                'verbose_name_plural': 'published PSPs',
                'ordering': ['display_name'],
            },
        ),
        migrations.RunPython(fill_published, empty_published),
    ]
