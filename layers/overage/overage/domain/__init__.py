"""Pure billing rules: no boto3, no clock, no environment (time, ids and configuration come in as arguments).

pydantic or dataclass: pydantic where bytes become objects or objects become bytes (CRM events, the catalog,
invoices and records read from or written to DynamoDB, JSON documents); frozen dataclasses for values that live in
memory only (billing periods, episode steps and their happenings).
"""
