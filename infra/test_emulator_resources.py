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
            "FERRY_POLL_FUNCTION_ARN", "FERRY_SCHEDULER_ROLE_ARN",
        }
        self.assertLessEqual(expected, names)


if __name__ == "__main__":
    unittest.main()
