//! SQS messages as Lambda's event source mapping hands them to a function.

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::Message;

/// The `SqsEvent` Lambda builds from received messages (`Records`, camelCase fields,
/// `eventSource` `aws:sqs`, the queue ARN and region).
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| sqs_record(m, queue_arn, region)).collect();
    event
}

fn sqs_record(m: &Message, queue_arn: &str, region: &str) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = m.message_id.clone();
    r.receipt_handle = m.receipt_handle.clone();
    r.body = m.body.clone();
    r.md5_of_body = m.md5_of_body.clone();
    r.md5_of_message_attributes = m.md5_of_message_attributes.clone();
    r.attributes = m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect();
    r.message_attributes = m
        .message_attributes
        .iter()
        .flatten()
        .map(|(k, v)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = v.string_value.clone();
            a.binary_value = v.binary_value.as_ref().map(|b| base64_data(b.as_ref()));
            a.string_list_values = v.string_list_values.clone().unwrap_or_default();
            a.binary_list_values = v.binary_list_values.iter().flatten().map(|b| base64_data(b.as_ref())).collect();
            a.data_type = Some(v.data_type.clone());
            (k.clone(), a)
        })
        .collect();
    r.event_source = Some("aws:sqs".into());
    r.event_source_arn = Some(queue_arn.to_string());
    r.aws_region = Some(region.to_string());
    r
}

fn base64_data(bytes: &[u8]) -> Base64Data {
    // Non-exhaustive: built through Default and DerefMut.
    let mut d = Base64Data::default();
    d.extend_from_slice(bytes);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::primitives::Blob;
    use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

    #[test]
    fn a_received_fifo_message_becomes_the_record_lambda_would_deliver() {
        let m = Message::builder()
            .message_id("059f36b4-87a3-44ab-83d2-661975830a7d")
            .receipt_handle("AQEBrh")
            .body("{\"schema\":1}")
            .md5_of_body("9d1a0a5d5f7b0e5c")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(MessageSystemAttributeName::MessageGroupId, "app-bugs:left:10001")
            .attributes(MessageSystemAttributeName::SequenceNumber, "18849496460467696128")
            .message_attributes(
                "trace",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(b"10".to_vec()))
                    .build()
                    .unwrap(),
            )
            .build();
        let event = sqs_event(&[m], "arn:aws:sqs:us-east-1:123456789012:ferry-changes.fifo", "us-east-1");
        let json = serde_json::to_value(&event).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["messageId"], "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(r["receiptHandle"], "AQEBrh");
        assert_eq!(r["body"], "{\"schema\":1}");
        assert_eq!(r["md5OfBody"], "9d1a0a5d5f7b0e5c");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:ferry-changes.fifo");
        assert_eq!(r["awsRegion"], "us-east-1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["attributes"]["MessageGroupId"], "app-bugs:left:10001");
        assert_eq!(r["attributes"]["SequenceNumber"], "18849496460467696128");
        assert_eq!(r["messageAttributes"]["trace"]["dataType"], "Binary");
        assert_eq!(r["messageAttributes"]["trace"]["binaryValue"], "MTA=");
        assert_eq!(ferry_runtime::aws::receive_count(&event.records[0]), 2);
    }
}
