"""overage: enforce and bill a CRM's usage policies (shared Lambda layer package)."""
