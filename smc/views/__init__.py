"""Console pages, one module per page family: ``auth`` (sign-in, 403), ``health`` (``/healthz``),
``dashboard``, ``processes``, ``jobs``, ``fleet`` (devices, refusals, scan servers) and ``audit``.

Templates mirror the families under ``templates/smc/<family>/``; partials shared by several
families live in ``templates/smc/shared/``. ``smc.urls`` imports the modules; nothing is
re-exported here.
"""
