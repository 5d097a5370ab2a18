"""Exposure / outcome attribution logs: record builders (records.py, standard library only, used in the
Lambda functions) and offline validation and reporting (report.py, `python -m recengine.attribution`)."""

from .records import (EXPOSURE_SCHEMA, OUTCOME_SCHEMA, OUTCOME_TYPES, exposure_record, outcome_record,
                      pseudonymous_id, schema_dir, to_jsonl)

__all__ = ["EXPOSURE_SCHEMA", "OUTCOME_SCHEMA", "OUTCOME_TYPES", "exposure_record", "outcome_record",
           "pseudonymous_id", "schema_dir", "to_jsonl"]
