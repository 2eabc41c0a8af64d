#!/usr/bin/env python3
"""Compares two OpenAPI documents of the API operation by operation, with
every `$ref` resolved, so that renaming or inlining a schema is no change
and only what a client sees is reported: parameters, request bodies and
answers (status, content types, schemas). Descriptions are compared only
with --text.

    OPENAPI_OUT=/tmp/before.json cargo test --lib write_document -- --ignored
    ... change the API ...
    OPENAPI_OUT=/tmp/after.json cargo test --lib write_document -- --ignored
    scripts/openapi-diff.py /tmp/before.json /tmp/after.json

Exits 1 when the documents differ.
"""
import json
import sys

TEXT = "--text" in sys.argv
args = [a for a in sys.argv[1:] if not a.startswith("--")]
if len(args) != 2:
    sys.exit(__doc__)
IGNORED = {"title", "examples", "example", "operationId", "tags"} | (set() if TEXT else {"description", "summary"})


def resolve(node, doc, seen=()):
    """The schema with its references replaced by what they name."""
    if isinstance(node, list):
        return [resolve(n, doc, seen) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            return {"$recursive": ref.rsplit("/", 1)[-1]}
        target = doc
        for part in ref.lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return resolve({**target, **rest}, doc, seen + (ref,))
    out = {}
    for key, value in node.items():
        if key in IGNORED:
            continue
        if key in ("required", "enum") and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = sorted(value)
        if key == "type" and isinstance(value, list):
            value = sorted(value)
        out[key] = resolve(value, doc, seen)
    # `oneOf: [X, {type: null}]` and `type: [.., "null"]` say the same.
    one = out.get("oneOf")
    if isinstance(one, list) and len(one) == 2 and {"type": "null"} in one:
        other = next(o for o in one if o != {"type": "null"})
        if isinstance(other, dict) and isinstance(other.get("type"), str):
            merged = {**{k: v for k, v in out.items() if k != "oneOf"}, **other}
            merged["type"] = sorted([other["type"], "null"])
            out = merged
    return out


def operations(doc):
    ops = {}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            params = {f'{p["in"]}:{p["name"]}': resolve(p, doc) for p in op.get("parameters", [])}
            ops[f"{method.upper()} {path}"] = {
                "parameters": params,
                "requestBody": resolve(op.get("requestBody"), doc),
                "responses": resolve(op.get("responses", {}), doc),
                "security": op.get("security"),
                **({"summary": op.get("summary"), "description": op.get("description")} if TEXT else {}),
            }
    return ops


def diff(a, b, where, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in b:
                out.append(f"{where}.{key}: only before: {json.dumps(a[key])[:300]}")
            elif key not in a:
                out.append(f"{where}.{key}: only after: {json.dumps(b[key])[:300]}")
            else:
                diff(a[key], b[key], f"{where}.{key}", out)
    elif a != b:
        out.append(f"{where}: {json.dumps(a)[:300]} -> {json.dumps(b)[:300]}")


before, after = (operations(json.load(open(p))) for p in args)
lines = []
for name in sorted(set(before) | set(after)):
    if name not in after:
        lines.append(f"{name}: only before")
    elif name not in before:
        lines.append(f"{name}: only after")
    else:
        diff(before[name], after[name], name, lines)
print("\n".join(lines) if lines else f"same: {len(before)} operations")
sys.exit(1 if lines else 0)
