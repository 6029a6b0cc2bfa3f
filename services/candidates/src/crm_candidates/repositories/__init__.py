"""MongoDB access of the candidates service, one module per aggregate, always within one tenant
(the few deliberately cross-tenant reads say so)."""
