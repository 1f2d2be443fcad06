//! The accept loop of the local servers that need more of hyper than
//! `axum::serve` gives (the S3 server's service, the WebSocket gateway's
//! handshake timeout): each connection handed to `connection` on a task of
//! its own, until `stop`.

use std::future::Future;

use tokio::net::{TcpListener, TcpStream};

pub fn serve<F, C>(
    listener: TcpListener,
    what: &'static str,
    stop: impl Future<Output = ()> + Send + 'static,
    connection: C,
) where
    C: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "{what} accept failed");
                        continue;
                    }
                },
                () = &mut stop => return,
            };
            tokio::spawn(connection(stream));
        }
    });
}
