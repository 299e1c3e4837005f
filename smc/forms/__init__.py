"""Console forms, one module per purpose: ``auth`` (sign-in), ``processes`` (scan-process settings,
confirmation, import), ``ticket`` (the ScanTicket editor), ``destinations`` (destination rows and
their formset) and ``audit`` (the audit filter). Import from the module that defines the form.
"""
