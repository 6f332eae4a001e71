#!/usr/bin/env python3
"""Writes the derived Azure DevOps 7.1 specs the contract check validates against.

The originals under specs/azure-devops are Microsoft's files, byte for byte. Two problems
make them unusable for validation as they are (docs/system-apis.md §5.4, §6):

* `x-ms-examples` hold external `$ref`s to httpExamples/ files (not copied; 11 of them differ
  in case from the real file names), so a resolver that crawls every key fails;
* `JsonPatchDocument` is `{type: object, allOf: [{type: array, ...}]}`, which no JSON array
  can satisfy, and `JsonPatchOperation.value` is `type: object`, which rejects the primitive
  values every real patch carries.

This script removes every `x-ms-examples`, makes `JsonPatchDocument` an array of
`JsonPatchOperation` and leaves `value` untyped. Each output file records its source, the
source's sha256 and the patches applied under `x-ferry-derived`.

Usage: derive_ado_specs.py [--src DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = {
    "wit": "wit/7.1/workItemTracking.json",
    "core": "core/7.1/core.json",
    "ims": "ims/7.1/identities.json",
    "hooks": "hooks/7.1/serviceHooks.json",
}


def strip_examples(node, where: str, removed: list[str]) -> None:
    if isinstance(node, dict):
        if "x-ms-examples" in node:
            del node["x-ms-examples"]
            removed.append(where)
        for key, child in node.items():
            strip_examples(child, f"{where}/{key}", removed)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            strip_examples(child, f"{where}/{i}", removed)


def derive(doc: dict) -> list[str]:
    """Patches `doc` in place; returns a description of every change."""
    patches: list[str] = []
    removed: list[str] = []
    strip_examples(doc, "#", removed)
    patches.append(f"removed x-ms-examples from {len(removed)} operations")
    definitions = doc.get("definitions", {})
    if "JsonPatchDocument" in definitions:
        old = definitions["JsonPatchDocument"]
        definitions["JsonPatchDocument"] = {
            "description": old.get("description", "The JSON model for JSON Patch Operations"),
            "type": "array",
            "items": {"$ref": "#/definitions/JsonPatchOperation"},
        }
        patches.append(
            "#/definitions/JsonPatchDocument: {type: object, allOf: [array]} -> {type: array, items: JsonPatchOperation}"
        )
    value = definitions.get("JsonPatchOperation", {}).get("properties", {}).get("value")
    if isinstance(value, dict) and "type" in value:
        old_type = value.pop("type")
        patches.append(f"#/definitions/JsonPatchOperation/properties/value: removed type '{old_type}' (any JSON value)")
    return patches


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE / "specs" / "azure-devops")
    ap.add_argument("--out", type=Path, default=HERE / "specs-derived" / "ado")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rel in SOURCES.items():
        src = args.src / rel
        raw = src.read_bytes()
        doc = json.loads(raw.decode("utf-8-sig"))
        patches = derive(doc)
        derived = {
            "x-ferry-derived": {
                "source": f"specs/azure-devops/{rel}",
                "source_sha256": hashlib.sha256(raw).hexdigest(),
                "generated_by": "infra/contract/derive_ado_specs.py",
                "patches": patches,
            },
            **doc,
        }
        out = args.out / f"{name}.json"
        out.write_text(json.dumps(derived, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{out}: " + "; ".join(patches))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
