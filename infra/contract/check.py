#!/usr/bin/env python3
"""Protocol contract check: validates captured simulator traffic against the official specs.

Every exchange the Jira and Azure DevOps simulators captured (FERRY_CONTRACT_DIR, one JSON
line per request: see shared/simulators/src/common.rs `Exchange`) is matched to an operation
of the Jira Cloud v3 OpenAPI 3.0.1 spec or of the derived Azure DevOps 7.1 Swagger 2.0 specs
(wit, core, ims; see derive_ado_specs.py) and checked:

* auth: the request's Authorization scheme (only the scheme is captured) is one the operation's
  security requirements allow (basic for Jira basicAuth / ADO PAT, Bearer for OAuth2);
* path: method + path template (ADO: literal segments case-insensitive, optional `{project}` /
  `{team}` segments marked `x-ms-required: false` may be absent, `x-ms-paths` variants
  selected by their query parameter); path parameter types;
* query: required parameters present, no undeclared ones, values of the declared type/enum,
  ADO `api-version` equal to the version the parameter's description prescribes;
* request: content type among those the operation consumes, body present when required, body
  valid against the operation's body schema (OpenAPI write semantics);
* response: status declared by the operation, body valid against that status's schema
  (read semantics), date-time and uuid formats checked.

Where the wire legitimately differs from the spec, the difference is applied explicitly and
listed in the report as a known spec deviation (see DEVIATIONS); anything else fails.
Unmatched requests fail. Exit status: 0 all exchanges pass, 1 any failure, 2 no exchanges
or unusable input.

Usage: check.py TRAFFIC_DIR [--specs DIR] [--derived DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from jsonschema import FormatChecker
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

HERE = Path(__file__).resolve().parent
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# ---------------------------------------------------------------- known spec deviations

DEVIATIONS: dict[str, str] = {
    "ado-list-wrapper": "ADO lists are declared as bare arrays; the wire wraps them as {count, value}: "
    "`value` is validated against the array's schema and `count` must equal its length (docs/system-apis.md §5.3).",
    "ado-workitem-field-values": "ADO WorkItem.fields values are declared `type: object`; real values are "
    "strings, numbers, booleans and IdentityRefs (docs/system-apis.md §5.5).",
    "ado-field-update-values": "ADO WorkItemFieldUpdate.oldValue/newValue are declared `type: object`; real "
    "values are primitives or IdentityRefs (as WorkItem.fields; docs/system-apis.md §5.5).",
    "ado-relation-attribute-values": "ADO Link.attributes values are declared `type: object`; the wire (and "
    "Microsoft's examples) carry primitives: {isLocked: false, comment: \"...\", name: \"...\"}.",
    "ado-identity-descriptor-string": "ADO IdentityDescriptor is declared as {identityType, identifier}; the wire "
    "(and Microsoft's ims examples) serialize it as the string \"<identityType>;<identifier>\".",
    "jira-changelog-null-values": "Jira ChangeDetails.from/fromString/to/toString are declared non-nullable "
    "strings; Jira sends null for an empty side of a change, as the spec's own changelog examples show.",
    "ado-null-values": "Swagger 2.0 has no nullable; the ADO wire sends null for absent values where Microsoft's "
    "examples do too: WorkItemStateTransition.actions, WorkItemTypeFieldWithReferences.defaultValue.",
    "ado-field-default-allowed-values": "ADO WorkItemTypeFieldWithReferences.defaultValue and allowedValues items are "
    "declared `type: object`; Microsoft's examples (and the wire) carry strings such as \"New\" or \"2\".",
    "ado-pat-basic-auth": "ADO operations list only `oauth2` in their own `security`, which overrides the "
    "document's `accessToken` (basic auth with a PAT); the service takes a PAT on every operation, so basic auth "
    "is accepted where the document-level requirement allows it.",
    "ado-undeclared-error-status": "ADO operations declare only 200; errors (400, 404, 412, 429, 5xx) carry the "
    "service's {message, typeKey, ...} body (docs/system-apis.md §5.9). Accepted when the body has that shape.",
    "jira-timestamp-offset": "Jira renders date-time values as 2023-06-24T19:24:50.000+0000 (offset without a "
    "colon), as the spec's own 'Timestamps' narrative says; `format: date-time` (RFC 3339) is not met.",
    "ado-unauthorized": "ADO operations declare only 200 (their security lists oauth2/PAT); a request whose "
    "credentials the service does not accept gets 401 with an empty body and a `WWW-Authenticate: Basic` "
    "challenge, on every endpoint (docs/system-apis.md §6: 401 is the one error a mock derives from the operations' security).",
    "injected-fault-status": "A 429/5xx produced by the simulator's fault switch, on an operation that does not "
    "declare that status (rate limits and outages exist on every endpoint per the vendors' docs).",
    "ado-relation-type-attribute-values": "ADO WorkItemRelationType.attributes values are declared `type: object`; "
    "Microsoft's workItemRelationTypes example (and the wire) carry booleans and strings (usage, topology, isForward, ...).",
    "ado-attachment-created-201": "ADO Attachments_Create and Attachments_Upload Chunk declare 200; Microsoft's "
    "attachment examples answer 201 Created. The body is validated against the 200 schema (AttachmentReference).",
    "ado-chunked-register-empty-body": "ADO Attachments_Create marks its body required; the request that registers a "
    "chunked upload (uploadType=Chunked) carries none, as Microsoft's chunked example shows. Only then.",
    "ado-attachment-download-without-api-version": "ADO Attachments_Get requires api-version; the attachment URLs the "
    "service puts into HTML (<img src=\".../_apis/wit/attachments/{id}?fileName=...\">) are fetched without one and served.",
    "ado-omitted-work-items": "ADO Work Items_Get Work Items Batch / Work Items_List with errorPolicy=omit answer null "
    "for an id that cannot be read; the WorkItem schema has no null. Only on those two operations.",
    "ado-content-range-header": "ADO Attachments_Upload Chunk names its required header parameter `contentRangeHeader`; "
    "its description (and the service) use the `Content-Range` header, which is what is checked.",
}

# Rules an operation's description states in prose (not in its schema): checked as strictly as
# the schema. (service, operationId) -> list of (kind, argument).
DESCRIPTION_RULES: dict[tuple[str, str], list[tuple[str, Any]]] = {
    # "The request must have a `X-Atlassian-Token: no-check` header" and "The name of the
    # multipart/form-data parameter that contains the attachments must be `file`."
    ("jira", "addAttachment"): [("request_header", ("x-atlassian-token", "no-check")), ("multipart_part_name", "file")],
    # 303: "See the `Location` header for the download URL."
    ("jira", "getAttachmentContent"): [("redirect_location", "303")],
}

# Request headers the simulators capture (shared/simulators/src/common.rs CAPTURED_REQUEST_HEADERS):
# a required header parameter can only be checked when it is one of them.
CAPTURED_REQUEST_HEADERS = {"x-atlassian-token", "content-range", "range"}

# Header parameters whose wire name differs from their declared name (with the deviation that says so).
HEADER_WIRE_NAMES = {"contentRangeHeader": ("content-range", "ado-content-range-header")}

# ADO operations answered 201 where the spec declares 200.
CREATED_FOR_OK = {"Attachments_Create", "Attachments_Upload Chunk"}

# Schema locations known to be wrong: a validation error raised by a (sub)schema inside one
# of these, for an instance the predicate accepts, is attributed to the deviation instead of
# failing. Anything else raised there still fails.
def _any(_: object) -> bool:
    return True


def _null(value: object) -> bool:
    return value is None


def _primitive(value: object) -> bool:
    return isinstance(value, (str, int, float, bool))


def _descriptor(value: object) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"[^;]+;.+", value))


OMIT_OPS = frozenset({"Work Items_Get Work Items Batch", "Work Items_List"})


SCHEMA_DEVIATIONS = [
    ("ado", "/definitions/WorkItem/properties/fields/additionalProperties", "ado-workitem-field-values", _any),
    ("ado", "/definitions/WorkItemFieldUpdate/properties/oldValue", "ado-field-update-values", _any),
    ("ado", "/definitions/WorkItemFieldUpdate/properties/newValue", "ado-field-update-values", _any),
    ("ado", "/definitions/Link/properties/attributes/additionalProperties", "ado-relation-attribute-values", _any),
    ("ado", "/definitions/IdentityDescriptor", "ado-identity-descriptor-string", _descriptor),
    ("ado", "/definitions/WorkItemStateTransition/properties/actions", "ado-null-values", _null),
    ("ado", "/definitions/WorkItemTypeFieldWithReferences/properties/defaultValue", "ado-null-values", _null),
    (
        "ado",
        "/definitions/WorkItemTypeFieldWithReferences/properties/defaultValue",
        "ado-field-default-allowed-values",
        _primitive,
    ),
    (
        "ado",
        "/definitions/WorkItemTypeFieldWithReferences/properties/allowedValues/items",
        "ado-field-default-allowed-values",
        _primitive,
    ),
] + [
    ("jira", f"/components/schemas/ChangeDetails/properties/{name}", "jira-changelog-null-values", _null)
    for name in ("from", "fromString", "to", "toString")
] + [
    (
        "ado",
        "/definitions/WorkItemRelationType/properties/attributes/additionalProperties",
        "ado-relation-type-attribute-values",
        _primitive,
    ),
    ("ado", "/definitions/WorkItem", "ado-omitted-work-items", _null, OMIT_OPS),
]

JIRA_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value))


@FORMATS.checks("uuid")
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(UUID.match(value))


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or -(2**31) <= value < 2**31


# ---------------------------------------------------------------- specs and operations


def pointer_escape(s: str) -> str:
    return s.replace("~", "~0").replace("/", "~1")


def resolve_local(doc: dict, node: Any) -> Any:
    """Follows a local `$ref` chain (parameters, response objects)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"non-local $ref {ref}")
        target: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target[int(part)] if isinstance(target, list) else target[part]
        node, seen = target, seen + 1
    return node


@dataclass
class Param:
    name: str
    location: str
    required: bool
    schema: dict
    optional_segment: bool = False  # ADO x-ms-required: false on a path parameter
    api_version: str | None = None  # ADO: the value the description prescribes


@dataclass
class Operation:
    service: str
    spec: "Spec"
    op_id: str
    method: str
    template: str  # as written in the spec, x-ms-paths query included
    path: str  # without the x-ms-paths query
    discriminators: list[str]  # x-ms-paths `?name={name}` query parameters
    params: list[Param]
    consumes: list[str]
    body_pointer: str | None  # JSON pointer of the request body schema
    body_required: bool
    responses: dict[str, str | None]  # status -> pointer of the schema (None: no schema)
    response_media: dict[str, list[str]]  # status -> media types it may carry (empty: any)
    security: list[dict] | None  # requirement objects; None: the spec says nothing
    variants: list[tuple[re.Pattern, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.service} {self.op_id}"


class Spec:
    def __init__(self, service: str, name: str, doc: dict):
        self.service, self.name, self.doc = service, name, doc
        self.uri = f"urn:ferry-contract:{name}"
        schemes = doc.get("securityDefinitions") or doc.get("components", {}).get("securitySchemes", {})
        self.auth_kinds = {n: auth_kind(d) for n, d in schemes.items()}
        self.registry = Registry().with_resource(self.uri, Resource(doc, DRAFT4))
        self.swagger2 = "swagger" in doc
        # id(schema node) -> (deviation, instance predicate, operation ids it is limited to or None)
        self.deviation_nodes: dict[int, list[tuple[str, Any, frozenset | None]]] = {}
        for svc, pointer, dev, accepts, *limit in SCHEMA_DEVIATIONS:
            if svc != service:
                continue
            try:
                node = resolve_local(doc, {"$ref": "#" + pointer})
            except (KeyError, TypeError):
                continue
            ops = limit[0] if limit else None
            # Unlimited deviations name a value location: every sub-schema there. Limited ones name
            # a whole object in its place: the schema and the schemas it extends (allOf).
            for sub in walk_dicts(node) if ops is None else schema_family(doc, node):
                self.deviation_nodes.setdefault(id(sub), []).append((dev, accepts, ops))

    def validator(self, pointer: str, write: bool):
        cls = OAS30WriteValidator if write else OAS30ReadValidator
        return cls({"$ref": f"{self.uri}#{pointer}"}, registry=self.registry, format_checker=FORMATS)

    def operations(self) -> list[Operation]:
        ops: list[Operation] = []
        groups = [("paths", self.doc.get("paths", {})), ("x-ms-paths", self.doc.get("x-ms-paths", {}))]
        for group, paths in groups:
            for template, item in paths.items():
                common = item.get("parameters", [])
                for method in METHODS:
                    if method not in item:
                        continue
                    op = item[method]
                    base = f"/{group}/{pointer_escape(template)}/{method}"
                    ops.append(self._operation(template, method, op, common, base))
        return ops

    def _operation(self, template: str, method: str, op: dict, common: list, base: str) -> Operation:
        path, _, query = template.partition("?")
        discriminators = re.findall(r"([^=&?]+)=\{[^}]*\}", query)
        params: list[Param] = []
        body_pointer, body_required = None, False
        raw = [(p, f"{base}/parameters/{i}") for i, p in enumerate(op.get("parameters", []))]
        raw += [(p, None) for p in common]
        for p, where in raw:
            ref = p.get("$ref") if isinstance(p, dict) else None
            p = resolve_local(self.doc, p)
            if p.get("in") == "body":
                body_pointer = (ref[1:] if ref else where) + "/schema"
                body_required = bool(p.get("required"))
                continue
            if p.get("in") not in ("path", "query", "header"):
                continue
            schema = p.get("schema") or {k: v for k, v in p.items() if k in ("type", "format", "enum", "items")}
            version = None
            if p["name"] == "api-version":
                m = re.search(r"set to '([^']+)'", p.get("description", ""))
                version = m.group(1) if m else None
            params.append(
                Param(
                    name=p["name"],
                    location=p["in"],
                    required=bool(p.get("required")),
                    schema=schema,
                    optional_segment=p["in"] == "path" and p.get("x-ms-required") is False,
                    api_version=version,
                )
            )
        consumes = list(op.get("consumes") or self.doc.get("consumes") or [])
        if not self.swagger2 and "requestBody" in op:
            rb = resolve_local(self.doc, op["requestBody"])
            content = rb.get("content", {})
            consumes = list(content)
            body_required = bool(rb.get("required"))
            for media in ("application/json", *content):
                if media in content and "schema" in content[media]:
                    body_pointer = f"{base}/requestBody/content/{pointer_escape(media)}/schema"
                    break
        responses: dict[str, str | None] = {}
        response_media: dict[str, list[str]] = {}
        produces = list(op.get("produces") or self.doc.get("produces") or ["application/json"])
        for status, resp in op.get("responses", {}).items():
            where = f"{base}/responses/{status}"
            if isinstance(resp, dict) and "$ref" in resp:
                where = resp["$ref"][1:]
                resp = resolve_local(self.doc, resp)
            schema_pointer = None
            if self.swagger2:
                if "schema" in resp:
                    schema_pointer = where + "/schema"
                response_media[str(status)] = produces if "schema" in resp else []
            else:
                content = resp.get("content", {})
                response_media[str(status)] = list(content)
                for media in ("application/json", *content):
                    if media in content and "schema" in content[media]:
                        schema_pointer = f"{where}/content/{pointer_escape(media)}/schema"
                        break
            responses[str(status)] = schema_pointer
        operation = Operation(
            service=self.service,
            spec=self,
            op_id=op.get("operationId", f"{method.upper()} {template}"),
            method=method.upper(),
            template=template,
            path=path,
            discriminators=discriminators,
            params=params,
            consumes=consumes,
            body_pointer=body_pointer,
            body_required=body_required,
            responses=responses,
            response_media=response_media,
            security=op.get("security", self.doc.get("security")),
        )
        operation.variants = path_variants(operation, case_insensitive=self.service == "ado")
        return operation


def auth_kind(definition: dict) -> str:
    """The Authorization header scheme a security scheme definition calls for."""
    kind = definition.get("type", "")
    if kind == "basic" or (kind == "http" and definition.get("scheme", "").lower() == "basic"):
        return "basic"
    if kind == "oauth2" or (kind == "http" and definition.get("scheme", "").lower() == "bearer"):
        return "bearer"
    return kind


def schema_family(doc: dict, node: Any) -> list[dict]:
    """A schema and, through `allOf` references, the schemas it extends."""
    out: list[dict] = []
    todo = [node]
    while todo:
        n = resolve_local(doc, todo.pop())
        if isinstance(n, dict) and all(n is not o for o in out):
            out.append(n)
            todo += [x for x in n.get("allOf", []) if isinstance(x, dict)]
    return out


def walk_dicts(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk_dicts(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_dicts(v)


def path_variants(op: Operation, case_insensitive: bool) -> list[tuple[re.Pattern, int]]:
    """Regexes for the template; ADO optional segments give extra variants without them."""
    segments = [s for s in op.path.split("/") if s]
    optional = [p.name for p in op.params if p.optional_segment]
    dropsets: list[set[str]] = [set()]
    for name in optional:
        dropsets += [d | {name} for d in dropsets]
    # `team` without `project` is no valid URL: a dropped project drops the team too.
    dropsets = [d for d in dropsets if not ("project" in d and "team" not in d and "team" in optional)]
    variants = []
    for drop in dropsets:
        parts, literals = [], 0
        for seg in segments:
            names = re.findall(r"\{([^}]+)\}", seg)
            if len(names) == 1 and seg == "{" + names[0] + "}" and names[0] in drop:
                continue
            if not names:
                parts.append(re.escape(seg))
                literals += 2
                continue
            rx = ""
            for lit, name in re.findall(r"([^{]*)\{([^}]+)\}", seg):
                rx += re.escape(lit) + f"(?P<{re.sub(r'[^A-Za-z0-9_]', '_', name)}>(?!_apis$)[^/]+)"
                literals += 1 if lit else 0
            tail = re.sub(r".*\}", "", seg)
            rx += re.escape(tail)
            parts.append(rx)
        flags = re.IGNORECASE if case_insensitive else 0
        variants.append((re.compile("^/" + "/".join(parts) + "/?$", flags), literals))
    return variants


# ---------------------------------------------------------------- results


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    deviations: set[str] = field(default_factory=set)

    def fail(self, msg: str) -> None:
        self.failures.append(msg)

    def deviate(self, dev: str) -> None:
        self.deviations.add(dev)


@dataclass
class OpReport:
    service: str
    operation_id: str
    method: str
    path_template: str
    count: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    deviations: dict[str, int] = field(default_factory=dict)
    first_failure: dict | None = None

    @property
    def result(self) -> str:
        return "FAIL" if self.failed else "pass"


# ---------------------------------------------------------------- checking


class Checker:
    def __init__(self, jira: list[Spec], ado: list[Spec]):
        self.ops: dict[str, list[Operation]] = {"jira": [], "ado": []}
        for spec in jira:
            self.ops["jira"] += spec.operations()
        for spec in ado:
            self.ops["ado"] += spec.operations()

    # --- matching

    def match(self, service: str, method: str, path: str, query: dict[str, list[str]]):
        decoded = "/".join(urllib.parse.unquote(s) for s in path.split("/"))
        qnames = {k.lower() if service == "ado" else k for k in query}
        best = None
        for op in self.ops.get(service, []):
            if op.method != method.upper():
                continue
            disc = {d.lower() if service == "ado" else d for d in op.discriminators}
            if not disc <= qnames:
                continue
            for rx, literals in op.variants:
                m = rx.match(decoded)
                if not m:
                    continue
                values = {k: v for k, v in m.groupdict().items()}
                types_ok = all(
                    scalar_ok(p.schema, values.get(re.sub(r"[^A-Za-z0-9_]", "_", p.name)), service) is None
                    for p in op.params
                    if p.location == "path" and re.sub(r"[^A-Za-z0-9_]", "_", p.name) in values
                )
                required = [p for p in op.params if p.location == "query" and p.required]
                req_ok = all((p.name.lower() if service == "ado" else p.name) in qnames for p in required)
                score = (types_ok, req_ok, literals, len(disc), len(required))
                if best is None or score > best[0]:
                    best = (score, op, values)
        return (best[1], best[2]) if best else (None, None)

    # --- one exchange

    def check(self, ex: dict) -> tuple[Operation | None, Verdict]:
        v = Verdict()
        service = ex.get("service", "")
        query = parse_query(ex.get("query", ""))
        op, path_values = self.match(service, ex.get("method", ""), ex.get("path", ""), query)
        if op is None:
            v.fail(f"no operation in the {service} spec matches {ex.get('method')} {ex.get('path')}")
            return None, v
        self.check_auth(op, ex, v)
        self.check_params(op, path_values or {}, query, v)
        self.check_headers(op, ex, v)
        self.check_request(op, ex, query, v)
        self.check_response(op, ex, v)
        self.check_description_rules(op, ex, v)
        return op, v

    @staticmethod
    def check_auth(op: Operation, ex: dict, v: Verdict) -> None:
        if "auth_scheme" not in ex or not op.security:
            return
        given = (ex.get("auth_scheme") or "").lower()

        def satisfied(requirements: list[dict]) -> bool:
            # {} is anonymous access; otherwise every scheme of one requirement must match.
            return any(not r or all(op.spec.auth_kinds.get(n) == given for n in r) for r in requirements)

        if satisfied(op.security):
            return
        document = op.spec.doc.get("security") or []
        if op.service == "ado" and satisfied(document):
            v.deviate("ado-pat-basic-auth")
            return
        names = [" + ".join(r) for r in op.security]
        v.fail(f"Authorization scheme {ex.get('auth_scheme') or 'none'!r} satisfies none of {names}")

    def check_params(self, op: Operation, path_values: dict, query: dict[str, list[str]], v: Verdict) -> None:
        ado = op.service == "ado"
        norm = (lambda s: s.lower()) if ado else (lambda s: s)
        declared = {norm(p.name): p for p in op.params if p.location == "query"}
        for p in op.params:
            if p.location == "path":
                value = path_values.get(re.sub(r"[^A-Za-z0-9_]", "_", p.name))
                if value is None:
                    if not p.optional_segment:
                        v.fail(f"path parameter {p.name} missing")
                    continue
                err = scalar_ok(p.schema, urllib.parse.unquote(value), op.service)
                if err:
                    v.fail(f"path parameter {p.name}: {err}")
        given = {norm(k): vals for k, vals in query.items()}
        for name, p in declared.items():
            if p.required and name not in given:
                if ado and op.op_id == "Attachments_Get" and name == "api-version":
                    v.deviate("ado-attachment-download-without-api-version")
                    continue
                v.fail(f"required query parameter {p.name} missing")
        for name, vals in given.items():
            p = declared.get(name)
            if p is None:
                v.fail(f"query parameter {name!r} is not declared by {op.op_id}")
                continue
            if p.api_version and any(x != p.api_version for x in vals):
                v.fail(f"api-version {vals} but the operation prescribes '{p.api_version}'")
            for value in vals:
                items = p.schema.get("items") if p.schema.get("type") == "array" else None
                for item in (value.split(",") if items and ado else [value]):
                    err = scalar_ok(items or p.schema, item, op.service)
                    if err:
                        v.fail(f"query parameter {p.name}: {err}")

    @staticmethod
    def check_headers(op: Operation, ex: dict, v: Verdict) -> None:
        """Required header parameters, where the capture holds the header (the others cannot be judged)."""
        sent = {k.lower(): val for k, val in (ex.get("request_headers") or {}).items()}
        for p in op.params:
            if p.location != "header" or not p.required:
                continue
            wire, dev = HEADER_WIRE_NAMES.get(p.name, (p.name.lower(), None))
            if wire not in CAPTURED_REQUEST_HEADERS:
                continue
            if dev:
                v.deviate(dev)
            if wire not in sent:
                v.fail(f"required header {wire} (parameter {p.name}) missing")
            elif wire == "content-range" and not re.fullmatch(r"bytes \d+-\d+/\d+", sent[wire].strip()):
                v.fail(f"header content-range {sent[wire]!r} is not 'bytes first-last/total'")

    def check_request(self, op: Operation, ex: dict, query: dict[str, list[str]], v: Verdict) -> None:
        body = ex.get("request_body")
        binary = ex.get("request_body_size")
        ctype = (ex.get("request_content_type") or "").split(";")[0].strip().lower()
        if body is None and binary is None:
            if op.body_required:
                chunked = any(x.lower() == "chunked" for x in query.get("uploadType", []))
                if op.service == "ado" and op.op_id == "Attachments_Create" and chunked:
                    v.deviate("ado-chunked-register-empty-body")
                    return
                v.fail("request body required by the spec but none was sent")
            return
        if op.body_pointer is None:
            v.fail(f"request body sent but {op.op_id} declares none")
            return
        if op.consumes and ctype not in [c.lower() for c in op.consumes]:
            v.fail(f"request content type {ctype or 'none'!r} not among {op.consumes}")
        if body is None:
            # A file (or a multipart form of files): judged by its media type, not as JSON.
            schema = resolve_local(op.spec.doc, {"$ref": "#" + op.body_pointer})
            if ctype == "multipart/form-data":
                if not ex.get("request_parts"):
                    v.fail("multipart request body whose parts could not be read")
            elif not is_binary_schema(schema):
                v.fail(f"a binary request body ({binary} bytes) where {op.op_id} declares a JSON body")
            return
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as e:
            v.fail(f"request body is not JSON: {e}")
            return
        self.validate(op, op.body_pointer, doc, True, "request", v)

    @staticmethod
    def check_description_rules(op: Operation, ex: dict, v: Verdict) -> None:
        sent = {k.lower(): val for k, val in (ex.get("request_headers") or {}).items()}
        answered = {k.lower(): val for k, val in (ex.get("response_headers") or {}).items()}
        for kind, arg in DESCRIPTION_RULES.get((op.service, op.op_id), []):
            if kind == "request_header":
                name, want = arg
                if sent.get(name, "").strip().lower() != want:
                    v.fail(f"the description requires the header {name}: {want} (sent: {sent.get(name)!r})")
            elif kind == "multipart_part_name":
                for part in ex.get("request_parts") or []:
                    if part.get("name") != arg or not part.get("filename"):
                        v.fail(f"multipart part {part.get('name')!r} ({part.get('filename')!r}): the description requires "
                               f"file parts named {arg!r} with a file name")
            elif kind == "redirect_location" and str(ex.get("status")) == arg and not answered.get("location"):
                v.fail(f"a {arg} answer without the Location header the description promises")

    def check_response(self, op: Operation, ex: dict, v: Verdict) -> None:
        status = str(ex.get("status"))
        body = ex.get("response_body")
        injected = ex.get("injected")
        if op.service == "ado" and status == "201" and op.op_id in CREATED_FOR_OK and "201" not in op.responses:
            v.deviate("ado-attachment-created-201")
            status = "200"
        if status not in op.responses and "default" not in op.responses:
            if injected:
                v.deviate("injected-fault-status")
                return
            if op.service == "ado" and status == "401" and not body:
                v.deviate("ado-unauthorized")
                return
            if op.service == "ado" and int(status) >= 400 and is_vss_error(body):
                v.deviate("ado-undeclared-error-status")
                return
            v.fail(f"response status {status} is not declared (declared: {sorted(op.responses)})")
            return
        pointer = op.responses.get(status, op.responses.get("default"))
        media = op.response_media.get(status, op.response_media.get("default", []))
        ctype = (ex.get("response_content_type") or "").split(";")[0].strip().lower()
        if (body is not None or ex.get("response_body_size")) and media and ctype not in [m.lower() for m in media]:
            v.fail(f"response content type {ctype or 'none'!r} not among {media}")
        if body is None and ex.get("response_body_size") and pointer is not None:
            if not is_binary_schema(resolve_local(op.spec.doc, {"$ref": "#" + pointer})):
                v.fail(f"a binary response body where {op.op_id} declares a JSON body")
            return
        if pointer is None or body is None:
            return
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as e:
            v.fail(f"response body is not JSON: {e}")
            return
        schema = resolve_local(op.spec.doc, {"$ref": "#" + pointer})
        if (
            op.service == "ado"
            and isinstance(schema, dict)
            and schema.get("type") == "array"
            and isinstance(doc, dict)
            and set(doc) == {"count", "value"}
        ):
            v.deviate("ado-list-wrapper")
            if not isinstance(doc["value"], list) or doc["count"] != len(doc["value"]):
                v.fail("list wrapper: count does not equal the number of values")
                return
            doc = doc["value"]
        self.validate(op, pointer, doc, False, "response", v)

    def validate(self, op: Operation, pointer: str, doc: Any, write: bool, what: str, v: Verdict) -> None:
        spec = op.spec
        reported: set[str] = set()
        for err in spec.validator(pointer, write).iter_errors(doc):
            dev = self.attribute(spec, err, op.op_id)
            if dev:
                v.deviate(dev)
                continue
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            if where in reported:  # one problem per location (null + type report the same thing)
                continue
            reported.add(where)
            v.fail(f"{what} body at {where}: {err.message[:300]}")

    @staticmethod
    def attribute(spec: Spec, err, op_id: str) -> str | None:
        for dev, accepts, ops in spec.deviation_nodes.get(id(err.schema), []):
            if accepts(err.instance) and (ops is None or op_id in ops):
                return dev
        if (
            spec.service == "jira"
            and err.validator == "format"
            and err.validator_value == "date-time"
            and isinstance(err.instance, str)
            and JIRA_TIMESTAMP.match(err.instance)
        ):
            return "jira-timestamp-offset"
        return None


def is_binary_schema(schema: Any) -> bool:
    """A body schema for raw bytes (Swagger `format: Stream`, OpenAPI `binary`)."""
    return isinstance(schema, dict) and schema.get("type") == "string" and schema.get("format") in ("Stream", "binary")


def is_vss_error(body: str | None) -> bool:
    try:
        doc = json.loads(body or "")
    except json.JSONDecodeError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("message"), str) and isinstance(doc.get("typeKey"), str)


def parse_query(q: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, val in urllib.parse.parse_qsl(q, keep_blank_values=True):
        out.setdefault(k, []).append(val)
    return out


def scalar_ok(schema: dict, value: str | None, service: str) -> str | None:
    """None when `value` (a URL string) fits the parameter schema, else why not."""
    if value is None:
        return None
    t = schema.get("type")
    if t == "integer":
        if not re.fullmatch(r"-?\d+", value):
            return f"{value!r} is not an integer"
    elif t == "number":
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number"
    elif t == "boolean":
        ok = value.lower() in ("true", "false") if service == "ado" else value in ("true", "false")
        if not ok:
            return f"{value!r} is not a boolean"
    enum = schema.get("enum")
    if enum:
        choices = [str(e) for e in enum]
        if service == "ado":
            if value.lower() not in [c.lower() for c in choices]:
                return f"{value!r} not in {choices}"
        elif value not in choices:
            return f"{value!r} not in {choices}"
    return None


# ---------------------------------------------------------------- loading and reporting


def load_specs(specs: Path, derived: Path) -> Checker:
    # Kept gzipped in the repo (2.4 MB as JSON); byte-for-byte the published file inside.
    with gzip.open(specs / "jira" / "swagger-v3.v3.json.gz", "rt", encoding="utf-8-sig") as f:
        jira_doc = json.load(f)
    ado = []
    for name in ("wit", "core", "ims", "hooks"):
        path = derived / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} missing: run derive_ado_specs.py first")
        ado.append(Spec("ado", f"ado-{name}", json.loads(path.read_text(encoding="utf-8"))))
    # The admin webhook resource, which Atlassian documents in prose only (see the file's info).
    webhooks = json.loads((specs / "jira" / "admin-webhooks.json").read_text(encoding="utf-8"))
    return Checker([Spec("jira", "jira", jira_doc), Spec("jira", "jira-admin-webhooks", webhooks)], ado)


def read_traffic(directory: Path) -> list[dict]:
    out = []
    for f in sorted(directory.glob("*.jsonl")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{f}:{n}: not JSON: {e}") from e
    return out


def run(checker: Checker, exchanges: list[dict]) -> dict[tuple, OpReport]:
    reports: dict[tuple, OpReport] = {}
    for ex in exchanges:
        op, verdict = checker.check(ex)
        if op is None:
            key = (ex.get("service"), "(unmatched)", ex.get("method"), ex.get("path"))
        else:
            key = (op.service, op.op_id, op.method, op.template)
        r = reports.setdefault(key, OpReport(*key))
        r.count += 1
        r.statuses[str(ex.get("status"))] = r.statuses.get(str(ex.get("status")), 0) + 1
        for dev in verdict.deviations:
            r.deviations[dev] = r.deviations.get(dev, 0) + 1
        if verdict.failures:
            r.failed += 1
            if r.first_failure is None:
                r.first_failure = {
                    "request": f"{ex.get('method')} {ex.get('path')}" + (f"?{ex['query']}" if ex.get("query") else ""),
                    "status": ex.get("status"),
                    "problems": verdict.failures[:10],
                }
    return reports


def render(reports: dict[tuple, OpReport], total: int) -> tuple[str, dict]:
    rows = sorted(reports.values(), key=lambda r: (r.service, r.path_template, r.method))
    failed = sum(r.failed for r in rows)
    used: dict[str, int] = {}
    for r in rows:
        for dev, n in r.deviations.items():
            used[dev] = used.get(dev, 0) + n
    lines = [
        "# Protocol contract check",
        "",
        f"{total} exchanges, {len(rows)} operations, {failed} failing exchanges: "
        + ("**FAIL**" if failed else "**pass**"),
        "",
        "| service | operationId | method | path template | count | statuses | result | deviations |",
        "|---|---|---|---|---:|---|---|---|",
    ]
    for r in rows:
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(r.statuses.items()))
        devs = ", ".join(f"{k}×{v}" for k, v in sorted(r.deviations.items()))
        result = f"FAIL ({r.failed})" if r.failed else "pass"
        lines.append(
            f"| {r.service} | {r.operation_id} | {r.method} | `{r.path_template}` | {r.count} | {statuses} | {result} | {devs} |"
        )
    fails = [r for r in rows if r.first_failure]
    if fails:
        lines += ["", "## First failure per operation", ""]
        for r in fails:
            ff = r.first_failure or {}
            lines.append(f"- **{r.service} {r.operation_id}**: `{ff.get('request')}` → {ff.get('status')}")
            for p in ff.get("problems", []):
                lines.append(f"  - {p}")
    lines += ["", "## Known spec deviations applied", ""]
    for dev, text in DEVIATIONS.items():
        lines.append(f"- `{dev}` ({used.get(dev, 0)} exchanges): {text}")
    data = {
        "exchanges": total,
        "failing_exchanges": failed,
        "result": "fail" if failed else "pass",
        "operations": [
            {
                "service": r.service,
                "operation_id": r.operation_id,
                "method": r.method,
                "path_template": r.path_template,
                "count": r.count,
                "statuses": r.statuses,
                "failed": r.failed,
                "result": r.result,
                "deviations": r.deviations,
                "first_failure": r.first_failure,
            }
            for r in rows
        ],
        "known_deviations": {k: {"description": t, "exchanges": used.get(k, 0)} for k, t in DEVIATIONS.items()},
    }
    return "\n".join(lines) + "\n", data


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Validate captured simulator traffic against the official specs.")
    ap.add_argument("traffic", type=Path, help="directory of *.jsonl exchange files (FERRY_CONTRACT_DIR)")
    ap.add_argument("--specs", type=Path, default=HERE / "specs")
    ap.add_argument("--derived", type=Path, default=HERE / "specs-derived" / "ado")
    ap.add_argument("--out", type=Path, help="write report.md and report.json here (default: the traffic dir)")
    args = ap.parse_args(argv)
    try:
        checker = load_specs(args.specs, args.derived)
        exchanges = read_traffic(args.traffic)
    except (OSError, ValueError) as e:
        print(f"contract check: {e}", file=sys.stderr)
        return 2
    if not exchanges:
        print(f"contract check: no exchanges in {args.traffic}/*.jsonl (was FERRY_CONTRACT_DIR set?)", file=sys.stderr)
        return 2
    reports = run(checker, exchanges)
    md, data = render(reports, len(exchanges))
    out = args.out or args.traffic
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(md)
    failed = data["failing_exchanges"]
    print(f"contract: {len(exchanges) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
