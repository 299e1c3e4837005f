"""Models moved between apps to follow the layers (docs/architecture.md). State only: every
table keeps its name and its rows, so an installation upgrades without copying data."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('smc', '0001_initial'),
        ('devices', '0006_scanserver_moved_here'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='ScanProcess',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('guid', models.UUIDField(default=uuid.uuid4, editable=False, help_text='PSP identifier', unique=True)),
                    ('display_name', models.CharField(max_length=255, unique=True)),
                    ('description', models.TextField(blank=True)),
                    ('ticket_xml', models.TextField(help_text='canonical wscn:ScanTicket')),
                    ('document_root_name', models.CharField(default='Scan', max_length=255)),
                    ('continue_on_error', models.BooleanField(default=True)),
                    ('naming_template', models.CharField(default='{root}-{date:%Y%m%d-%H%M%S}-{seq}', max_length=255)),
                    ('output_format', models.CharField(choices=[('pdf', 'PDF'), ('pdfa', 'PDF/A'), ('tiff', 'Multi-page TIFF'), ('jpeg', 'JPEG per page'), ('png', 'PNG per page')], default='pdf', max_length=8)),
                    ('ocr', models.BooleanField(default=False)),
                    ('allow_device_file_name_change', models.BooleanField(default=False)),
                    ('allow_device_file_path_change', models.BooleanField(default=False)),
                    ('locked_settings', models.JSONField(blank=True, default=list, help_text='ticket settings users may not override')),
                    ('allowed_groups', models.JSONField(blank=True, default=list, help_text='directory group identifiers (DNs, or group names in the embedded directory)')),
                    ('state', models.CharField(choices=[('draft', 'Draft (never published)'), ('published', 'Published'), ('unpublished', 'Unpublished'), ('archived', 'Archived')], db_index=True, default='draft', max_length=16)),
                    ('created_by', models.CharField(blank=True, max_length=255)),
                    ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                    ('allowed_device_groups', models.ManyToManyField(blank=True, related_name='processes', to='devices.devicegroup')),
                    ('scan_server', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='processes', to='devices.scanserver')),
                ],
                options={
                    'db_table': 'smc_scanprocess',
                    'ordering': ['display_name'],
                },
            ),
            migrations.CreateModel(
                name='ProcessDestination',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('kind', models.CharField(choices=[('folder', 'Local folder'), ('smb', 'File share (SMB)'), ('email', 'E-mail'), ('webdav', 'SharePoint / WebDAV'), ('http', 'HTTP webhook')], max_length=16)),
                    ('position', models.PositiveIntegerField(default=0)),
                    ('config', models.JSONField(blank=True, default=dict)),
                    ('username', models.CharField(blank=True, max_length=255)),
                    ('secret', models.TextField(blank=True, help_text='sealed with core.secretbox; never shown back')),
                    ('process', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='destinations', to='scanprocesses.scanprocess')),
                ],
                options={
                    'db_table': 'smc_processdestination',
                    'ordering': ['process', 'position', 'pk'],
                },
            ),
            migrations.CreateModel(
                name='ScanProcessVersion',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('number', models.PositiveIntegerField()),
                    ('psp_xml', models.TextField(help_text='canonical psp:PostScanProcess, as written to the directory')),
                    ('settings_snapshot', models.JSONField(blank=True, default=dict, help_text='the process fields at publication')),
                    ('created_by', models.CharField(blank=True, max_length=255)),
                    ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('comment', models.CharField(blank=True, max_length=500)),
                    ('process', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='versions', to='scanprocesses.scanprocess')),
                ],
                options={
                    'db_table': 'smc_scanprocessversion',
                    'ordering': ['process', '-number'],
                },
            ),
            migrations.AddField(
                model_name='scanprocess',
                name='published_version',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scanprocesses.scanprocessversion'),
            ),
            migrations.AddConstraint(
                model_name='scanprocessversion',
                constraint=models.UniqueConstraint(fields=('process', 'number'), name='unique_version_number'),
            ),
            ],
            database_operations=[],
        ),
    ]
