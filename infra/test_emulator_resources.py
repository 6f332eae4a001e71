"""Offline tests of emulator_resources.py's template handling (no emulator needed).

Run: .venv-moto/bin/python -m unittest discover -s infra -p 'test_*.py'
"""

import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import emulator_resources as er  # noqa: E402

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


def stack(text: str, **params: str) -> er.Stack:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    return er.Stack(er.load_template(Path(f.name)), "st", "us-east-1", "111122223333", params)


class ShortTags(unittest.TestCase):
    def test_short_tags_become_intrinsic_functions(self):
        s = stack(
            "Resources:\n"
            "  A:\n"
            "    Type: X\n"
            "    Properties:\n"
            "      r: !Ref B\n"
            "      g: !GetAtt B.Arn\n"
            "      j: !Join [',', [a, !Ref B]]\n"
            "      s: !Sub ['${x}', {x: 1}]\n"
        )
        props = s.t["Resources"]["A"]["Properties"]
        self.assertEqual(props["r"], {"Ref": "B"})
        self.assertEqual(props["g"], {"Fn::GetAtt": ["B", "Arn"]})
        self.assertEqual(props["j"], {"Fn::Join": [",", ["a", {"Ref": "B"}]]})
        self.assertEqual(props["s"], {"Fn::Sub": ["${x}", {"x": 1}]})


class Resolve(unittest.TestCase):
    def setUp(self):
        self.s = stack(
            "Parameters:\n"
            "  T: {Type: Number, Default: 30, AllowedValues: [30, 60]}\n"
            "Mappings:\n"
            "  M: {'30': {V: 180}, '60': {V: 360}}\n"
            "Conditions:\n"
            "  Big: !Equals [!Ref T, 60]\n"
            "Resources:\n"
            "  Q: {Type: AWS::SQS::Queue}\n"
            "  F:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {FunctionName: !Sub '${AWS::StackName}-poll'}\n",
            T="60",
        )
        self.s.physical["Q"] = {"Ref": "http://q", "Arn": "arn:q"}

    def test_sub_resolves_pseudo_parameters_attributes_and_keeps_escaped_literals(self):
        out = self.s.resolve({"Fn::Sub": "${AWS::StackName}/${Q.Arn}/${Q}/${!Keep}"})
        self.assertEqual(out, "st/arn:q/http://q/${Keep}")

    def test_find_in_map_follows_the_parameter_override(self):
        self.assertEqual(self.s.resolve({"Fn::FindInMap": ["M", {"Ref": "T"}, "V"]}), 360)

    def test_if_and_no_value_drop_the_key(self):
        out = self.s.resolve({"a": {"Fn::If": ["Big", {"Ref": "AWS::NoValue"}, 1]}, "b": 2})
        self.assertEqual(out, {"b": 2})

    def test_function_arn_is_derived_from_its_name(self):
        self.assertEqual(
            self.s.resolve({"Fn::GetAtt": ["F", "Arn"]}),
            "arn:aws:lambda:us-east-1:111122223333:function:st-poll",
        )

    def test_disallowed_parameter_value_is_refused(self):
        with self.assertRaisesRegex(er.TemplateError, "T=45"):
            stack("Parameters:\n  T: {Type: Number, Default: 30, AllowedValues: [30]}\nResources: {}\n", T="45")

    def test_unknown_parameter_is_refused(self):
        with self.assertRaisesRegex(er.TemplateError, "Nope"):
            stack("Resources: {}\n", Nope="1")


class FerryTemplate(unittest.TestCase):
    def test_dead_letter_queues_are_created_before_their_sources(self):
        order = er.creation_order(er.load_template(TEMPLATE)["Resources"])
        self.assertLess(order.index("ChangesDlq"), order.index("ChangesQueue"))
        self.assertLess(order.index("WritesDlq"), order.index("WritesQueue"))
        self.assertNotIn("PollFunction", order)

    def test_visibility_timeout_is_six_times_every_allowed_function_timeout(self):
        t = er.load_template(TEMPLATE)
        for timeout in t["Parameters"]["FunctionTimeout"]["AllowedValues"]:
            self.assertEqual(t["Mappings"]["QueueVisibility"][str(timeout)]["Seconds"], 6 * timeout)

    def test_functions_receive_every_ferry_variable(self):
        t = er.load_template(TEMPLATE)
        names = set(t["Globals"]["Function"]["Environment"]["Variables"])
        expected = {
            "FERRY_CONFIG_TABLE", "FERRY_STATE_TABLE", "FERRY_CHANGES_QUEUE_URL", "FERRY_WRITES_QUEUE_URL",
            "FERRY_CHANGES_DLQ_URL", "FERRY_WRITES_DLQ_URL", "FERRY_MAX_RECEIVES", "FERRY_SCHEDULE_GROUP",
            "FERRY_POLL_FUNCTION_ARN", "FERRY_SCHEDULER_ROLE_ARN", "FERRY_PAYLOAD_BUCKET",
        }
        self.assertLessEqual(expected, names)

    def test_the_payload_bucket_is_created_before_the_policy_that_names_it(self):
        order = er.creation_order(er.load_template(TEMPLATE)["Resources"])
        self.assertLess(order.index("PayloadBucket"), order.index("PayloadBucketPolicy"))

    def test_lifecycle_rules_take_the_s3_apis_shape(self):
        rule = {"Id": "x", "Status": "Enabled", "Prefix": "messages/", "ExpirationInDays": 30}
        self.assertEqual(
            er.lifecycle_rule(rule),
            {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "messages/"}, "Expiration": {"Days": 30}},
        )


def statements(template: dict, resource: str) -> list[dict]:
    """Every policy statement of a role (inline policies) or a managed policy."""
    props = template["Resources"][resource]["Properties"]
    docs = [p["PolicyDocument"] for p in props.get("Policies", [])] + (
        [props["PolicyDocument"]] if "PolicyDocument" in props else [])
    return [st for d in docs for st in d["Statement"] if isinstance(st, dict) and "Effect" in st]


def granted(template: dict, resource: str, target: str) -> set[str]:
    """The actions a role or policy allows on resources whose reference mentions `target`."""
    out: set[str] = set()
    for st in statements(template, resource):
        if st["Effect"] != "Allow" or target not in repr(st["Resource"]):
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        out |= set(actions)
    return out


class LeastPrivilege(unittest.TestCase):
    def setUp(self):
        self.t = er.load_template(TEMPLATE)

    def test_the_poll_role_only_reads_the_config_table(self):
        actions = granted(self.t, "PollFunctionRole", "ConfigTable")
        self.assertTrue(actions, "the poll reads integrations")
        self.assertEqual({a for a in actions if not a.startswith(("dynamodb:Get", "dynamodb:BatchGet",
                                                                 "dynamodb:Query", "dynamodb:Scan"))}, set())

    def test_the_operator_may_consume_the_main_queues_and_redrive_the_dead_letters(self):
        for queue in ("ChangesQueue", "WritesQueue"):
            actions = granted(self.t, "FerryOperatorPolicy", queue)
            self.assertLessEqual({"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                  "sqs:ChangeMessageVisibility"}, actions, queue)
        for dlq in ("ChangesDlq", "WritesDlq"):
            self.assertIn("sqs:StartMessageMoveTask", granted(self.t, "FerryOperatorPolicy", dlq))

    def test_each_function_reaches_only_its_own_payload_prefixes(self):
        def s3(resource):
            return {(a, r) for st in statements(self.t, resource) if st["Effect"] == "Allow"
                    for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
                    if a.startswith("s3:")
                    for r in [repr(st["Resource"]).split("/", 1)[-1].rstrip("'}\"")]}
        self.assertEqual(s3("PollFunctionRole"), {
            ("s3:PutObject", "messages/changes/*"),
            ("s3:GetObject", "failures/*"), ("s3:PutObject", "failures/*"), ("s3:DeleteObject", "failures/*")})
        self.assertIn(("s3:GetObject", "messages/changes/*"), s3("TransformFunctionRole"))
        self.assertIn(("s3:PutObject", "messages/writes/*"), s3("TransformFunctionRole"))
        self.assertNotIn(("s3:PutObject", "messages/changes/*"), s3("TransformFunctionRole"))
        self.assertIn(("s3:GetObject", "messages/writes/*"), s3("WriteFunctionRole"))
        self.assertFalse({a for a, r in s3("WriteFunctionRole") if r.startswith("messages") and a != "s3:GetObject"})

    def test_the_payload_bucket_is_encrypted_private_and_expires_message_payloads(self):
        p = self.t["Resources"]["PayloadBucket"]["Properties"]
        self.assertTrue(p["BucketEncryption"]["ServerSideEncryptionConfiguration"])
        self.assertTrue(all(p["PublicAccessBlockConfiguration"].values()))
        rules = {r.get("Prefix"): r for r in p["LifecycleConfiguration"]["Rules"]}
        self.assertGreater(rules["messages/"]["ExpirationInDays"], 14, "outlives the dead-letter retention")


if __name__ == "__main__":
    unittest.main()
