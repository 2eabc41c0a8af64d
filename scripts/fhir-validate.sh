#!/usr/bin/env bash
# Validates FHIR resources against the R4 specification with an independent
# validator: the pydantic models of PyPI's fhir.resources (its R4B models,
# whose JSON is R4's for every resource the view emits), in a virtualenv of
# our own. Each resource in a Bundle and each contained resource is
# validated as its own type too. Used by tests/it/fhir.rs and tests/it/discharge.rs.
#
#   scripts/fhir-validate.sh FILE...   # each a resource, or a JSON array of them
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.run/fhir-venv
mkdir -p .run
# Tests validate in parallel: one makes the virtualenv while the others wait
# for it, rather than finding it half made.
exec 9>.run/fhir-venv.lock
flock 9
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import fhir.resources.R4B' 2>/dev/null; then
  python3 -m venv "$venv" 2>/dev/null || {
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q --disable-pip-version-check 'fhir.resources>=8,<9'
fi
flock -u 9

exec "$venv/bin/python" - "$@" <<'PY'
import json, sys
from fhir.resources.R4B import get_fhir_model_class

failures = 0
checked = 0

# fhir.resources checks types, cardinality, required elements and the
# primitive formats, but not the value sets FHIR binds as "required": the
# codes eldercare emits in such elements are checked against R4's here.
PUBLICATION = {"draft", "active", "retired", "unknown"}
REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
REQUEST_INTENT = {"proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order",
                  "instance-order", "option"}
DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
EVENT_TIMING = {"MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE", "EVE.early",
                "EVE.late", "NIGHT", "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC", "ACM", "ACD", "ACV", "PC",
                "PCM", "PCD", "PCV"}
REQUIRED = {
    "Observation": {"status": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                               "entered-in-error", "unknown"}},
    "Flag": {"status": {"active", "inactive", "entered-in-error"}},
    "Task": {"status": {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
                        "in-progress", "on-hold", "failed", "completed", "entered-in-error"},
             "intent": {"unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                        "instance-order", "option"},
             "priority": {"routine", "urgent", "asap", "stat"}},
    "Encounter": {"status": {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
                             "entered-in-error", "unknown"}},
    "CarePlan": {"status": REQUEST_STATUS, "intent": {"proposal", "plan", "order", "option"}},
    "ServiceRequest": {"status": REQUEST_STATUS, "intent": REQUEST_INTENT,
                       "priority": {"routine", "urgent", "asap", "stat"},
                       "occurrenceTiming.repeat.dayOfWeek": DAYS, "occurrenceTiming.repeat.when": EVENT_TIMING},
    "NutritionOrder": {"status": REQUEST_STATUS, "intent": REQUEST_INTENT,
                       "oralDiet.schedule.repeat.dayOfWeek": DAYS, "oralDiet.schedule.repeat.when": EVENT_TIMING},
    "Communication": {"status": {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                                 "entered-in-error", "unknown"}},
    "Device": {"status": {"active", "inactive", "entered-in-error", "unknown"}},
    # What medical partners send, read back as sent.
    "Condition": {"clinicalStatus.coding.code": {"active", "recurrence", "relapse", "inactive", "remission",
                                                 "resolved"},
                  "verificationStatus.coding.code": {"unconfirmed", "provisional", "differential", "confirmed",
                                                     "refuted", "entered-in-error"}},
    "AllergyIntolerance": {"clinicalStatus.coding.code": {"active", "inactive", "resolved"},
                           "verificationStatus.coding.code": {"unconfirmed", "confirmed", "refuted",
                                                              "entered-in-error"},
                           "type": {"allergy", "intolerance"},
                           "category": {"food", "medication", "environment", "biologic"},
                           "criticality": {"low", "high", "unable-to-assess"},
                           "reaction.severity": {"mild", "moderate", "severe"}},
    "MedicationStatement": {"status": {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold",
                                       "unknown", "not-taken"}},
    "Bundle": {"type": {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                        "history", "searchset", "collection"},
               "entry.search.mode": {"match", "include", "outcome"}},
    "CodeSystem": {"status": PUBLICATION,
                   "content": {"not-present", "example", "fragment", "complete", "supplement"}},
    "CapabilityStatement": {"status": PUBLICATION, "kind": {"instance", "capability", "requirements"},
                            "fhirVersion": {"4.0.1"}, "rest.mode": {"client", "server"},
                            "rest.resource.interaction.code": {"read", "vread", "update", "patch", "delete",
                                                               "history-instance", "history-type", "create",
                                                               "search-type"},
                            "rest.resource.searchParam.type": {"number", "date", "string", "token", "reference",
                                                               "composite", "quantity", "uri", "special"},
                            "rest.interaction.code": {"transaction", "batch", "search-system", "history-system"}},
    "Consent": {"status": {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"},
                "provision.type": {"deny", "permit"}},
    "OperationOutcome": {"issue.severity": {"fatal", "error", "warning", "information"},
                         "issue.code": {"invalid", "structure", "required", "value", "invariant", "security",
                                        "login", "unknown", "expired", "forbidden", "suppressed", "processing",
                                        "not-supported", "duplicate", "multiple-matches", "not-found", "deleted",
                                        "too-long", "code-invalid", "extension", "too-costly", "business-rule",
                                        "conflict", "transient", "lock-error", "no-store", "exception", "timeout",
                                        "incomplete", "throttled", "informational"}},
}
CATEGORIES = {"social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam", "therapy",
              "activity"}

def values(node, path):
    if isinstance(node, list):
        for item in node:
            yield from values(item, path)
    elif not path:
        yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from values(node[path[0]], path[1:])

def empty(node, path):
    """FHIR's JSON has no empty objects, arrays or strings (ele-1)."""
    if node in ({}, [], "") or node is None:
        yield f"{path or '.'} is empty"
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from empty(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from empty(value, f"{path}[{i}]")

def codes_problems(resource):
    yield from empty(resource, "")
    kind = resource.get("resourceType")
    for path, allowed in REQUIRED.get(kind, {}).items():
        for value in values(resource, path.split(".")):
            if value not in allowed:
                yield f"{path} {value!r} is not in its required value set"
    if kind == "Observation":
        for coding in values(resource, ["category", "coding"]):
            if coding.get("system") != "http://terminology.hl7.org/CodeSystem/observation-category" \
                    or coding.get("code") not in CATEGORIES:
                yield f"category {coding} is not of observation-category"
        for q in list(values(resource, ["valueQuantity"])) + list(values(resource, ["component", "valueQuantity"])):
            if q.get("system") != "http://unitsofmeasure.org" or not q.get("code"):
                yield f"quantity {q} is not UCUM"
        vital = any(c.get("code") == "vital-signs" for c in values(resource, ["category", "coding"]))
        if vital and not (resource.get("valueQuantity") or resource.get("component")):
            yield "a vital sign has neither value nor component (vs-2)"
        if vital and not (resource.get("subject") and resource.get("effectiveDateTime")):
            yield "a vital sign lacks subject or effective time"
    if kind == "Encounter":
        cls = resource.get("class", {})
        if cls.get("system") != "http://terminology.hl7.org/CodeSystem/v3-ActCode":
            yield f"class {cls} is not of v3-ActCode"

def validate(resource, where):
    global failures, checked
    kind = resource.get("resourceType")
    try:
        get_fhir_model_class(kind).model_validate(resource)
        checked += 1
        for problem in codes_problems(resource):
            failures += 1
            print(f"INVALID {where} ({kind}/{resource.get('id')}): {problem}")
    except Exception as err:  # a KeyError for an unknown type, ValidationError otherwise
        failures += 1
        print(f"INVALID {where} ({kind}/{resource.get('id')}): {err}")
    for i, inner in enumerate(resource.get("contained", [])):
        validate(inner, f"{where}.contained[{i}]")
    for i, entry in enumerate(resource.get("entry", [])):
        if "resource" in entry:
            validate(entry["resource"], f"{where}.entry[{i}]")

for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    for i, resource in enumerate(doc if isinstance(doc, list) else [doc]):
        validate(resource, f"{path}[{i}]")

print(f"validated {checked} resources, {failures} invalid")
sys.exit(1 if failures or not checked else 0)
PY
