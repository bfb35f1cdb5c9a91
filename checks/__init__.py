"""mooring's check layer: schemas, static rules, live probes and drift; findings are data."""
