//! Copies one attachment from the source to the target as a stream: the download
//! writes pieces into a small bounded channel that the upload reads from, so at most a
//! few pieces are ever in memory, whatever the file's size. The bytes are counted and
//! hashed on the way; a transfer that ends short, or a copy whose size differs from the
//! original's, is an error and the copy is removed again.

use ferry_domain::ports::Connector;
use ferry_domain::{Attachment, ByteSink, ByteSource, EntityId, ErrorCategory, PortError, Scope};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Pieces in flight between the download and the upload.
const IN_FLIGHT: usize = 4;

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The copy's id on the target.
    pub id: String,
    pub size: u64,
    /// SHA-256 of the bytes that went through, hex.
    pub sha256: String,
}

struct Sink(mpsc::Sender<Result<Vec<u8>, PortError>>);

#[async_trait::async_trait]
impl ByteSink for Sink {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.0
            .send(Ok(chunk.to_vec()))
            .await
            .map_err(|_| PortError::new(ErrorCategory::Network, "the upload stopped reading the attachment"))
    }
}

struct Source {
    rx: mpsc::Receiver<Result<Vec<u8>, PortError>>,
    expected: u64,
    seen: u64,
    hash: Sha256,
    name: String,
}

#[async_trait::async_trait]
impl ByteSource for Source {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        match self.rx.recv().await {
            Some(Ok(chunk)) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.expected {
                    return Err(self.short("more"));
                }
                self.hash.update(&chunk);
                Ok(Some(chunk))
            }
            Some(Err(e)) => Err(e),
            // The download ended: every byte must have come.
            None if self.seen == self.expected => Ok(None),
            None => Err(self.short("fewer")),
        }
    }
}

impl Source {
    fn short(&self, what: &str) -> PortError {
        PortError::new(
            ErrorCategory::Network,
            format!("attachment {}: the download gave {what} bytes than the {} announced", self.name, self.expected),
        )
    }
}

/// Streams `attachment` of the source entity onto the target entity under the same name.
#[allow(clippy::too_many_arguments)]
pub async fn copy_attachment(
    from: &dyn Connector,
    from_scope: &Scope,
    from_id: &EntityId,
    attachment: &Attachment,
    to: &dyn Connector,
    to_scope: &Scope,
    to_id: &EntityId,
) -> Result<Copied, PortError> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let mut source =
        Source { rx, expected: attachment.size, seen: 0, hash: Sha256::new(), name: attachment.name.clone() };
    let download = async move {
        let mut sink = Sink(tx);
        let r = from.download(from_scope, from_id, attachment, &mut sink).await;
        if let Err(e) = &r {
            // Ends the upload with the download's error instead of a short file.
            let _ = sink.0.send(Err(PortError::new(e.category, e.message.clone()))).await;
        }
        r
    };
    let upload = to.upload(to_scope, to_id, &attachment.name, attachment.size, &mut source);
    let (downloaded, uploaded) = tokio::join!(download, upload);
    let copy = uploaded?;
    downloaded?;
    if copy.size != attachment.size || source.seen != attachment.size {
        // Never leave a damaged copy behind: the retry makes a whole one.
        to.delete_attachment(to_scope, to_id, &copy.id).await?;
        return Err(PortError::new(
            ErrorCategory::BadResponse,
            format!(
                "attachment {}: the copy holds {} bytes, the original {}; the copy was removed",
                attachment.name, copy.size, attachment.size
            ),
        ));
    }
    Ok(Copied { id: copy.id, size: source.seen, sha256: hex(&source.hash.finalize()) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
