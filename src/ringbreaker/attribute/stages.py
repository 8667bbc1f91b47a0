"""Which step of an abuse campaign an event is, as the case timeline tells it.

Leak -> key check -> model enablement -> abuse -> guardrail tampering (ordered as Storm-2139 and
the public LLMjacking write-ups describe it). One SQL CASE expression over events, so the timeline
is a single grouped scan. Azure key checkers send 1-token requests on api-versions that customers
left behind (2023 previews): those count as checks, not use.
"""

from __future__ import annotations

STAGES = ("leak", "key-check", "model-enablement", "abuse", "guardrail-tampering", "prohibited-content")

STAGE_SQL = """
CASE
  WHEN operation IN ('DeleteModelInvocationLoggingConfiguration', 'DeleteGuardrail', 'UpdateGuardrail')
       OR upper(operation) LIKE '%/RAIPOLICIES/WRITE' OR upper(operation) LIKE '%/RAIPOLICIES/DELETE'
       OR upper(operation) LIKE '%/RAIBLOCKLISTS/DELETE'
    THEN 'guardrail-tampering'
  WHEN operation IN ('PutFoundationModelEntitlement', 'CreateFoundationModelAgreement',
                     'PutUseCaseForModelAccess', 'ListFoundationModelAgreementOffers')
       OR upper(operation) LIKE '%/DEPLOYMENTS/WRITE'
    THEN 'model-enablement'
  WHEN operation IN ('GetCallerIdentity', 'GetModelInvocationLoggingConfiguration', 'ListFoundationModels',
                     'GetFoundationModelAvailability', 'GetUseCaseForModelAccess')
       OR error_code = 'ValidationException' OR upper(operation) LIKE '%/LISTKEYS/ACTION'
       OR (provider = 'azure' AND (coalesce(tokens_out, 2) <= 1 OR api_version < '2024'))
    THEN 'key-check'
  WHEN status = 'success' THEN 'abuse'
  ELSE 'key-check'
END
"""
