//! Files moved between a system and Ferry's byte streams ([`ByteSource`], [`ByteSink`])
//! a piece at a time: never a whole file in memory.
//!
//! - [`stream_body`]: a request body fed from a source while the request is sent,
//!   through a channel of [`PIPE_DEPTH`] pieces (the source is read only as fast as the
//!   server takes the bytes).
//! - [`Framed`]: a source between a fixed head and tail (a multipart body's one part).
//! - [`Pieces`]: a source read in pieces of a chosen size (a chunked upload).
//! - [`download`]: a response body written to a sink as it arrives.

use bytes::Bytes;
use ferry_domain::{ByteSink, ByteSource, ErrorCategory, PortError};
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Pieces of a source waiting to be sent, at most (besides the one being written).
pub const PIPE_DEPTH: usize = 2;

/// A request body whose pieces arrive through a channel, of a known length (sent as
/// `Content-Length`).
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    remaining: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                self.remaining = self.remaining.saturating_sub(piece.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Makes the request `send` with a body of the `size` bytes `source` gives, read while
/// the request is sent. Fails when the source gives more or fewer bytes than `size`
/// (the request is then cut off, never completed with other bytes).
pub async fn stream_body<T, F, Fut>(source: &mut dyn ByteSource, size: u64, send: F) -> Result<T, PortError>
where
    F: FnOnce(reqwest::Body) -> Fut,
    Fut: Future<Output = Result<T, PortError>>,
{
    let (tx, rx) = mpsc::channel(PIPE_DEPTH);
    let body = reqwest::Body::wrap(ChannelBody { rx, remaining: size });
    let (pumped, sent) = tokio::join!(pump(source, size, tx), send(body));
    // A source that failed or gave the wrong length says why the request broke off.
    pumped?;
    sent
}

/// Feeds `tx` from `source`; stops early, without error, when the request is over.
async fn pump(
    source: &mut dyn ByteSource,
    size: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), PortError> {
    let abort = |tx: mpsc::Sender<Result<Bytes, std::io::Error>>, e: PortError| async move {
        let _ = tx.send(Err(std::io::Error::other(e.message.clone()))).await;
        Err(e)
    };
    let mut sent = 0u64;
    loop {
        let piece = match source.next_chunk().await {
            Ok(p) => p,
            Err(e) => return abort(tx, e).await,
        };
        let Some(piece) = piece else {
            if sent == size {
                return Ok(());
            }
            return abort(tx, wrong_length(size, sent)).await;
        };
        sent += piece.len() as u64;
        if sent > size {
            return abort(tx, wrong_length(size, sent)).await;
        }
        if !piece.is_empty() && tx.send(Ok(Bytes::from(piece))).await.is_err() {
            // The request ended (answered or failed): its result tells.
            return Ok(());
        }
    }
}

/// The error of a source that gave `got` bytes of a file announced as `size`.
pub fn wrong_length(size: u64, got: u64) -> PortError {
    let how = if got > size { "more" } else { "fewer" };
    PortError::new(
        ErrorCategory::BadMessage,
        format!("the file's bytes do not match its size: {size} bytes announced, {how} given ({got} read)"),
    )
}

/// `head`, then the `size` bytes of a source, then `tail`: one source of
/// [`Framed::total_len`] bytes. A source that gives more or fewer than `size` bytes fails with
/// [`wrong_length`] of its own size, before the tail is given.
pub struct Framed<'a> {
    head: Option<Vec<u8>>,
    source: &'a mut dyn ByteSource,
    size: u64,
    read: u64,
    tail: Option<Vec<u8>>,
}

impl<'a> Framed<'a> {
    pub fn new(head: Vec<u8>, source: &'a mut dyn ByteSource, size: u64, tail: Vec<u8>) -> Self {
        Self { head: Some(head), source, size, read: 0, tail: Some(tail) }
    }

    /// Bytes in all: head, source and tail.
    pub fn total_len(&self) -> u64 {
        let frame = |p: &Option<Vec<u8>>| p.as_ref().map_or(0, |b| b.len() as u64);
        frame(&self.head) + self.size + frame(&self.tail)
    }
}

#[async_trait::async_trait]
impl ByteSource for Framed<'_> {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if let Some(head) = self.head.take() {
            return Ok(Some(head));
        }
        if self.tail.is_none() {
            return Ok(None);
        }
        match self.source.next_chunk().await? {
            Some(piece) => {
                self.read += piece.len() as u64;
                if self.read > self.size {
                    return Err(wrong_length(self.size, self.read));
                }
                Ok(Some(piece))
            }
            None if self.read != self.size => Err(wrong_length(self.size, self.read)),
            None => Ok(self.tail.take()),
        }
    }
}

/// A source read in pieces of a chosen size, whatever sizes it gives.
pub struct Pieces<'a> {
    source: &'a mut dyn ByteSource,
    carry: Vec<u8>,
    done: bool,
}

impl<'a> Pieces<'a> {
    pub fn new(source: &'a mut dyn ByteSource) -> Self {
        Self { source, carry: Vec::new(), done: false }
    }

    /// The next `n` bytes, fewer only at the end of the source (empty after it).
    pub async fn next(&mut self, n: usize) -> Result<Vec<u8>, PortError> {
        while self.carry.len() < n && !self.done {
            match self.source.next_chunk().await? {
                Some(piece) => self.carry.extend_from_slice(&piece),
                None => self.done = true,
            }
        }
        let rest = self.carry.split_off(n.min(self.carry.len()));
        Ok(std::mem::replace(&mut self.carry, rest))
    }
}

/// Writes the body of `resp` to `sink` as it arrives; returns how many bytes it wrote.
/// `what` names the download in an error.
pub async fn download(mut resp: reqwest::Response, sink: &mut dyn ByteSink, what: &str) -> Result<u64, PortError> {
    let mut written = 0u64;
    loop {
        let piece = resp.chunk().await.map_err(|e| {
            PortError::new(ErrorCategory::Network, format!("{what}: the download broke off after {written} bytes: {e}"))
        })?;
        let Some(piece) = piece else { return Ok(written) };
        sink.write_chunk(&piece).await?;
        written += piece.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// `pieces` pieces of `len` bytes; counts how many were read.
    struct Counted {
        left: usize,
        len: usize,
        read: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl ByteSource for Counted {
        async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            self.read.fetch_add(1, Ordering::SeqCst);
            Ok(Some(vec![7; self.len]))
        }
    }

    /// A body consumer that takes one piece at a time and checks how far ahead the
    /// source has been read.
    async fn consume(body: reqwest::Body, read: Arc<AtomicUsize>) -> Result<(u64, usize), PortError> {
        use http_body::Body as _;
        let mut body = body;
        let mut got = 0u64;
        let mut ahead = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| PortError::new(ErrorCategory::Network, e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                got += data.len() as u64;
                tokio::task::yield_now().await;
                let pieces_taken = (got / 1000) as usize;
                ahead = ahead.max(read.load(Ordering::SeqCst).saturating_sub(pieces_taken));
            }
        }
        Ok((got, ahead))
    }

    #[tokio::test]
    async fn a_streamed_body_reads_the_source_only_as_fast_as_it_is_sent() {
        let read = Arc::new(AtomicUsize::new(0));
        let mut source = Counted { left: 100, len: 1000, read: read.clone() };
        let r = read.clone();
        let (got, ahead) = stream_body(&mut source, 100_000, |b| consume(b, r)).await.expect("sent");
        assert_eq!(got, 100_000);
        assert!(ahead <= PIPE_DEPTH + 1, "the source was read {ahead} pieces ahead of the body");
    }

    #[tokio::test]
    async fn a_source_of_the_wrong_length_breaks_the_body_off() {
        for (pieces, size) in [(3, 5000), (5, 3000)] {
            let read = Arc::new(AtomicUsize::new(0));
            let mut source = Counted { left: pieces, len: 1000, read: read.clone() };
            let e = stream_body(&mut source, size, |b| consume(b, read)).await.expect_err("refused");
            assert_eq!(e.category, ErrorCategory::BadMessage, "{e}");
            assert!(e.message.contains(&format!("{size} bytes announced")), "{e}");
        }
    }

    #[tokio::test]
    async fn a_framed_source_gives_head_source_and_tail_and_checks_the_source_length() {
        let read = Arc::new(AtomicUsize::new(0));
        let mut source = Counted { left: 2, len: 3, read: read.clone() };
        let mut framed = Framed::new(b"<".to_vec(), &mut source, 6, b">>".to_vec());
        assert_eq!(framed.total_len(), 9);
        let mut all = Vec::new();
        while let Some(p) = framed.next_chunk().await.expect("read") {
            all.extend(p);
        }
        assert_eq!(all, b"<\x07\x07\x07\x07\x07\x07>>");
        for (pieces, size) in [(1, 6), (3, 6)] {
            let mut source = Counted { left: pieces, len: 3, read: read.clone() };
            let mut framed = Framed::new(b"<".to_vec(), &mut source, size, b">".to_vec());
            let e = loop {
                match framed.next_chunk().await {
                    Ok(Some(p)) => assert_ne!(p, b">", "the tail came after a source of the wrong length"),
                    Ok(None) => panic!("a source of the wrong length ended cleanly"),
                    Err(e) => break e,
                }
            };
            assert!(e.message.contains("6 bytes announced"), "{e}");
        }
    }

    #[tokio::test]
    async fn pieces_come_in_the_size_asked_for() {
        let read = Arc::new(AtomicUsize::new(0));
        let mut source = Counted { left: 5, len: 300, read };
        let mut pieces = Pieces::new(&mut source);
        let mut sizes = Vec::new();
        loop {
            let p = pieces.next(400).await.expect("read");
            if p.is_empty() {
                break;
            }
            sizes.push(p.len());
        }
        assert_eq!(sizes, [400, 400, 400, 300]);
    }
}
