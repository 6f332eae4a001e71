#!/usr/bin/env python3
"""Create the resources template.yaml declares on an AWS emulator (moto server or LocalStack).

The template is the only list of resources: this script parses it (CloudFormation short tags
included), resolves the intrinsic functions the way CloudFormation would for a stack named
--stack-name, creates the DynamoDB tables, SQS queues, S3 buckets (and their policies), schedule
groups, IAM roles and managed policies it finds, and writes the FERRY_* variables the functions would receive (the template's
Globals.Function.Environment) as `export` lines. Lambda functions are not created (the
emulators cannot run them without Docker); their ARNs are derived from their FunctionName.

Re-running against an emulator that already holds the resources is harmless.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
CREATED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::Scheduler::ScheduleGroup",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Role",
)
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


class TemplateError(Exception):
    """The template uses something this emulator bootstrap cannot resolve."""


# ---------------------------------------------------------------- YAML with CloudFormation tags


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(tag: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag in (
    "Ref", "Condition", "GetAtt", "Sub", "Join", "If", "Not", "Equals", "And", "Or",
    "Select", "Split", "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr", "Length",
    "ToJsonString",
):
    _CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(_tag))


def load_template(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return doc


# ---------------------------------------------------------------- intrinsic functions

_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class Stack:
    def __init__(self, template: dict, stack_name: str, region: str, account_id: str,
                 overrides: dict[str, str]):
        self.t = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.params = self._parameters(overrides)
        self.conditions: dict[str, bool] = {}
        # logical id -> {"Ref": ..., attribute: ...} once created (or derived)
        self.physical: dict[str, dict[str, str]] = {}

    def _parameters(self, overrides: dict[str, str]) -> dict[str, str]:
        declared = self.t.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        values = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = overrides[name]
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no Default: pass --param {name}=VALUE")
            allowed = spec.get("AllowedValues")
            if allowed is not None and values[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={values[name]} is not one of {allowed}")
        return values

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            spec = (self.t.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self.conditions[name] = bool(self.resolve(spec))
        return self.conditions[name]

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/emulator",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.params:
            return self.params[name]
        return self.attr(name, "Ref")

    def attr(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.t["Resources"]:
            raise TemplateError(f"reference to unknown resource {logical_id}")
        if logical_id not in self.physical:
            rtype = self.t["Resources"][logical_id].get("Type")
            if rtype in FUNCTION_TYPES:
                self.physical[logical_id] = self._function_attrs(logical_id)
            else:
                raise TemplateError(f"{logical_id} ({rtype}) is referenced before it exists")
        attrs = self.physical[logical_id]
        if attribute not in attrs:
            raise TemplateError(f"{logical_id} has no attribute {attribute} here")
        return attrs[attribute]

    def _function_attrs(self, logical_id: str) -> dict[str, str]:
        props = self.t["Resources"][logical_id].get("Properties") or {}
        name = self.resolve(props["FunctionName"]) if "FunctionName" in props else generated_name(
            self.stack_name, logical_id, 64)
        arn = f"arn:{PARTITION}:lambda:{self.region}:{self.account_id}:function:{name}"
        return {"Ref": name, "Arn": arn}

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                value = variables[expr]
            elif "." in expr and not expr.startswith("AWS::"):
                logical_id, attribute = expr.split(".", 1)
                value = self.attr(logical_id, attribute)
            else:
                value = self.ref(expr)
            return str(value)

        return _SUB_VAR.sub(replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not _NO_VALUE:
                out[k] = r
        return out

    def _function(self, fn: str, arg: Any) -> Any:
        if fn == "GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.attr(logical_id, self.resolve(attribute))
        if fn == "Sub":
            if isinstance(arg, list):
                text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
            else:
                text, variables = arg, {}
            return self.sub(text, variables)
        if fn == "Join":
            sep, items = arg
            return str(sep).join(str(i) for i in self.resolve(items))
        if fn == "If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(name) else no)
        if fn == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if fn == "Not":
            return not self.resolve(arg[0])
        if fn == "And":
            return all(self.resolve(x) for x in arg)
        if fn == "Or":
            return any(self.resolve(x) for x in arg)
        if fn == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if fn == "Split":
            sep, text = arg[0], self.resolve(arg[1])
            return str(text).split(sep)
        if fn == "FindInMap":
            mapping, top, second = (self.resolve(x) for x in arg[:3])
            try:
                return self.t["Mappings"][mapping][str(top)][str(second)]
            except KeyError as e:
                raise TemplateError(f"FindInMap {mapping}/{top}/{second}: no such entry") from e
        if fn == "GetAZs":
            return [f"{self.region}{s}" for s in "abc"]
        if fn == "Base64":
            import base64
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        raise TemplateError(f"Fn::{fn} is not supported by the emulator bootstrap")


def generated_name(stack_name: str, logical_id: str, limit: int) -> str:
    # CloudFormation appends a random suffix; a fixed one keeps re-runs idempotent.
    return f"{stack_name}-{logical_id}"[:limit]


def references(node: Any) -> set[str]:
    """Logical ids a property tree refers to (Ref, GetAtt, ${...} in Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for n in node:
            found |= references(n)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".", 1)[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                for m in _SUB_VAR.finditer(text):
                    if not m.group(1).startswith("!"):
                        found.add(m.group(1).split(".", 1)[0])
                if isinstance(v, list):
                    found |= references(v[1])
            else:
                found |= references(v)
    return found


def creation_order(resources: dict) -> list[str]:
    wanted = [lid for lid, r in resources.items() if r.get("Type") in CREATED_TYPES]
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(lid: str, path: list[str]) -> None:
        if state.get(lid) == "done":
            return
        if state.get(lid) == "visiting":
            raise TemplateError("circular reference: " + " -> ".join(path + [lid]))
        state[lid] = "visiting"
        for dep in sorted(references(resources[lid].get("Properties") or {})):
            if dep in resources and resources[dep].get("Type") in CREATED_TYPES:
                visit(dep, path + [lid])
            elif dep in resources and resources[dep].get("Type") in FUNCTION_TYPES:
                # A function's attributes come from its own properties; follow them too.
                for sub in sorted(references(resources[dep].get("Properties", {}).get("FunctionName", {}))):
                    if sub in resources and resources[sub].get("Type") in CREATED_TYPES:
                        visit(sub, path + [lid, dep])
        state[lid] = "done"
        order.append(lid)

    for lid in wanted:
        visit(lid, [])
    return order


# ---------------------------------------------------------------- creators


def _flag(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _exists(e: ClientError, *codes: str) -> bool:
    return e.response.get("Error", {}).get("Code") in codes


class Creator:
    def __init__(self, stack: Stack, session: boto3.Session, endpoint: str, log: Callable[[str], None]):
        self.stack = stack
        cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.client = lambda service: session.client(service, endpoint_url=endpoint, config=cfg)
        self.log = log

    def create(self, logical_id: str) -> None:
        res = self.stack.t["Resources"][logical_id]
        if "Condition" in res and not self.stack.condition(res["Condition"]):
            self.log(f"skip {logical_id}: condition {res['Condition']} is false")
            return
        props = self.stack.resolve(res.get("Properties") or {})
        rtype = res["Type"]
        handler = {
            "AWS::DynamoDB::Table": self.table,
            "AWS::SQS::Queue": self.queue,
            "AWS::S3::Bucket": self.bucket,
            "AWS::S3::BucketPolicy": self.bucket_policy,
            "AWS::Scheduler::ScheduleGroup": self.schedule_group,
            "AWS::IAM::ManagedPolicy": self.managed_policy,
            "AWS::IAM::Role": self.role,
        }[rtype]
        self.stack.physical[logical_id] = handler(logical_id, props)
        self.log(f"{rtype:32} {logical_id:22} {self.stack.physical[logical_id]['Ref']}")

    def table(self, lid: str, p: dict) -> dict[str, str]:
        ddb = self.client("dynamodb")
        name = p.get("TableName") or generated_name(self.stack.stack_name, lid, 255)
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in p:
            args["ProvisionedThroughput"] = {k: int(v) for k, v in p["ProvisionedThroughput"].items()}
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in p:
                args[key] = [
                    {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
                    for index in p[key]
                ]
        if "SSESpecification" in p:
            sse = p["SSESpecification"]
            args["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
            for k in ("SSEType", "KMSMasterKeyId"):
                if k in sse:
                    args["SSESpecification"][k] = sse[k]
        if "StreamSpecification" in p:
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        if "Tags" in p:
            args["Tags"] = p["Tags"]
        try:
            desc = ddb.create_table(**args)["TableDescription"]
        except ClientError as e:
            if not _exists(e, "ResourceInUseException"):
                raise
            desc = ddb.describe_table(TableName=name)["Table"]
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        pitr = p.get("PointInTimeRecoverySpecification")
        if pitr and pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        return {"Ref": name, "Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}

    def queue(self, lid: str, p: dict) -> dict[str, str]:
        sqs = self.client("sqs")
        fifo = bool(p.get("FifoQueue"))
        name = p.get("QueueName") or generated_name(self.stack.stack_name, lid, 75 if fifo else 80) + (".fifo" if fifo else "")
        attributes = {}
        for key, value in p.items():
            if key in ("QueueName", "Tags"):
                continue
            if key in ("RedrivePolicy", "RedriveAllowPolicy") and isinstance(value, dict):
                value = dict(value)
                if "maxReceiveCount" in value:
                    value["maxReceiveCount"] = int(value["maxReceiveCount"])
                value = json.dumps(value)
            attributes[key] = _flag(value)
        args: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if "Tags" in p:
            args["tags"] = {t["Key"]: t["Value"] for t in p["Tags"]}
        try:
            url = sqs.create_queue(**args)["QueueUrl"]
        except ClientError as e:
            if not _exists(e, "QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists"):
                raise
            # Same name, other attributes (e.g. a changed parameter): bring them in line.
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
            if settable:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    def bucket(self, lid: str, p: dict) -> dict[str, str]:
        s3 = self.client("s3")
        # CloudFormation lower-cases the stack name and logical id for a bucket name.
        name = p.get("BucketName") or generated_name(self.stack.stack_name, lid, 63).lower()
        args: dict[str, Any] = {"Bucket": name}
        if self.stack.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.stack.region}
        try:
            s3.create_bucket(**args)
        except ClientError as e:
            if not _exists(e, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        if "BucketEncryption" in p:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [
                {("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                 for k, v in r.items()}
                for r in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration={k: bool(v) for k, v in p["PublicAccessBlockConfiguration"].items()})
        rules = (p.get("LifecycleConfiguration") or {}).get("Rules")
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [lifecycle_rule(r) for r in rules]})
        arn = f"arn:{PARTITION}:s3:::{name}"
        return {"Ref": name, "Arn": arn, "DomainName": f"{name}.s3.{URL_SUFFIX}"}

    def bucket_policy(self, lid: str, p: dict) -> dict[str, str]:
        # Not applied: the template's policy denies requests without TLS, and the
        # emulators serve plain HTTP on loopback (moto enforces the denial).
        self.log(f"note: {lid}: the bucket policy is not applied on the emulator (TLS-only; the emulator is HTTP)")
        return {"Ref": p["Bucket"]}

    def schedule_group(self, lid: str, p: dict) -> dict[str, str]:
        scheduler = self.client("scheduler")
        name = p.get("Name") or generated_name(self.stack.stack_name, lid, 64)
        try:
            arn = scheduler.create_schedule_group(Name=name)["ScheduleGroupArn"]
        except ClientError as e:
            if not _exists(e, "ConflictException"):
                raise
            arn = scheduler.get_schedule_group(Name=name)["Arn"]
        return {"Ref": name, "Arn": arn}

    def managed_policy(self, lid: str, p: dict) -> dict[str, str]:
        iam = self.client("iam")
        name = p.get("ManagedPolicyName") or generated_name(self.stack.stack_name, lid, 128)
        path = p.get("Path", "/")
        try:
            arn = iam.create_policy(
                PolicyName=name, Path=path, PolicyDocument=json.dumps(p["PolicyDocument"]),
                Description=p.get("Description", "")[:1000],
            )["Policy"]["Arn"]
        except ClientError as e:
            if not _exists(e, "EntityAlreadyExists"):
                raise
            arn = next(
                (pol["Arn"] for page in iam.get_paginator("list_policies").paginate(Scope="Local", PathPrefix=path)
                 for pol in page["Policies"] if pol["PolicyName"] == name),
                None,
            )
            if arn is None:
                raise TemplateError(f"{lid}: policy {name} exists but cannot be listed") from e
        return {"Ref": arn, "PolicyArn": arn}

    def role(self, lid: str, p: dict) -> dict[str, str]:
        iam = self.client("iam")
        name = p.get("RoleName") or generated_name(self.stack.stack_name, lid, 64)
        args: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": json.dumps(p["AssumeRolePolicyDocument"]),
            "Path": p.get("Path", "/"),
        }
        if "Description" in p:
            args["Description"] = p["Description"]
        try:
            role = iam.create_role(**args)["Role"]
        except ClientError as e:
            if not _exists(e, "EntityAlreadyExists"):
                raise
            role = iam.get_role(RoleName=name)["Role"]
        for policy in p.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        for arn in p.get("ManagedPolicyArns", []):
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except ClientError as e:
                # AWS managed policies (X-Ray, ...) may be unknown to an emulator.
                if not _exists(e, "NoSuchEntity"):
                    raise
                self.log(f"note: {lid}: emulator does not know {arn}; not attached")
        return {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]}


def lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    out: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled"),
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return out


# ---------------------------------------------------------------- env file


def function_environment(stack: Stack) -> dict[str, str]:
    """The FERRY_* variables every function gets (Globals plus a function's own, if any)."""
    t = stack.t
    variables = dict(((t.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {}))
    for res in t["Resources"].values():
        if res.get("Type") in FUNCTION_TYPES:
            own = (res.get("Properties") or {}).get("Environment", {}).get("Variables", {})
            for k, v in own.items():
                variables.setdefault(k, v)
    resolved = stack.resolve(variables)
    return {k: str(v) for k, v in resolved.items() if k.startswith("FERRY_") and k != "FERRY_LOG"}


def env_text(endpoint: str, region: str, ferry: dict[str, str]) -> str:
    lines = [
        "# Written by infra/emulator_resources.py from template.yaml; `source` it.",
        f"export AWS_ENDPOINT_URL={shlex.quote(endpoint)}",
        f"export AWS_REGION={shlex.quote(region)}",
        f"export AWS_DEFAULT_REGION={shlex.quote(region)}",
        "export AWS_ACCESS_KEY_ID=test",
        "export AWS_SECRET_ACCESS_KEY=test",
        "export AWS_EC2_METADATA_DISABLED=true",
    ]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ferry.items())]
    return "\n".join(lines) + "\n"


def write_env(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000")
    ap.add_argument("--template", type=Path, default=Path(__file__).resolve().parent.parent / "template.yaml")
    ap.add_argument("--stack-name", default="ferry-local")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", help="default: the emulator's STS GetCallerIdentity")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="template parameter override")
    ap.add_argument("--env-file", type=Path, help="write the export lines here (else print them)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    try:
        overrides = dict(p.split("=", 1) for p in args.param)
    except ValueError:
        print("--param needs NAME=VALUE", file=sys.stderr)
        return 2
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=args.region)
    try:
        account = args.account_id or session.client(
            "sts", endpoint_url=args.endpoint).get_caller_identity()["Account"]
        stack = Stack(load_template(args.template), args.stack_name, args.region, account, overrides)
        creator = Creator(stack, session, args.endpoint, log)
        for logical_id in creation_order(stack.t["Resources"]):
            creator.create(logical_id)
        ferry = function_environment(stack)
    except (TemplateError, ClientError, OSError, yaml.YAMLError) as e:
        print(f"emulator_resources: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # botocore connection errors and the like
        print(f"emulator_resources: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    text = env_text(args.endpoint, args.region, ferry)
    if args.env_file:
        write_env(args.env_file, text)
        log(f"wrote {args.env_file}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
