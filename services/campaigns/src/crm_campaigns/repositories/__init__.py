"""MongoDB access of the campaigns service, one module per aggregate.

API and handler access is tenant-scoped. The sequence engine and the mail dispatcher work for
every tenant at once, so their claim queries are deliberately cross-tenant; each claimed record
is then processed within its own tenant.
"""
