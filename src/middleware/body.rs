//! [`ResponseBody`]: the inner service's body, or the layer's own answer.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`BearerAuth`](crate::middleware::BearerAuth) and
    /// [`Guard`](crate::middleware::Guard): the wrapped service's
    /// own body, untouched, or the layer's rejection.
    ///
    /// Wrapping instead of requiring the inner body to be buildable from bytes is what lets the
    /// layer sit in front of any service: axum routers, hyper services, and tonic's `Routes`,
    /// whose body type cannot be built from bytes.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { bytes: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// The wrapped service's body.
    pub(crate) fn inner(body: B) -> Self {
        ResponseBody { kind: Kind::Inner { body } }
    }

    /// A body of the layer's own, which may be empty (gRPC answers carry none).
    pub(crate) fn rejection(bytes: Bytes) -> Self {
        let bytes = (!bytes.is_empty()).then_some(bytes);
        ResponseBody { kind: Kind::Rejection { bytes } }
    }
}

/// The layer builds its rejections from bytes whatever the inner body is.
impl<B> From<Bytes> for ResponseBody<B> {
    fn from(bytes: Bytes) -> Self {
        ResponseBody::rejection(bytes)
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { bytes } => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { body } => f.debug_tuple("ResponseBody::Inner").field(body).finish(),
            Kind::Rejection { bytes } => f
                .debug_struct("ResponseBody::Rejection")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn a_rejection_is_its_bytes_exactly_and_an_inner_body_passes_through() {
        let rejection = ResponseBody::<Full<Bytes>>::rejection(Bytes::from_static(b"{\"error\":\"x\"}"));
        assert_eq!(rejection.size_hint().exact(), Some(13));
        assert_eq!(
            rejection.collect().await.map(|c| c.to_bytes()),
            Ok(Bytes::from_static(b"{\"error\":\"x\"}"))
        );

        let empty = ResponseBody::<Full<Bytes>>::rejection(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.collect().await.map(|c| c.to_bytes()), Ok(Bytes::new()));

        let inner = ResponseBody::inner(Full::new(Bytes::from_static(b"hello")));
        let collected: Result<_, Infallible> = inner.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected, Ok(Bytes::from_static(b"hello")));
    }
}
