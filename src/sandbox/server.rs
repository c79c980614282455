//! The accept loop, written with hyper directly because axum's own `serve` cannot drop a
//! connection: its router is infallible, while a `drop` fault must close the socket without
//! any response. Here a response marked [`DropConnection`] becomes a service error, and
//! hyper closes the connection on a service error without writing anything.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::service::{Connection, DropConnection};

/// Serves `router` on `listener` until the returned task is aborted; aborting it also
/// aborts every open connection, so nothing outlives the [`super::Sandbox`].
pub(crate) fn spawn(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(accept_loop(listener, router))
}

async fn accept_loop(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    let mut accepted = 0;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                accepted += 1;
                connections.spawn(serve_connection(
                    stream,
                    Connection(accepted),
                    router.clone(),
                ));
            }
            // Out of file descriptors and the like: the next accept may succeed.
            Err(e) => tracing::warn!("sandbox: accept failed: {e}"),
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_connection(stream: TcpStream, connection: Connection, router: Router) {
    let router = TowerToHyperService::new(router);
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(connection);
        let response = router.call(request);
        async move {
            let Ok(response) = response.await;
            refuse_marked(response)
        }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("sandbox: connection ended: {e}");
    }
}

fn refuse_marked(response: Response<Body>) -> Result<Response<Body>, DropConnection> {
    match response.extensions().get::<DropConnection>() {
        Some(drop) => Err(*drop),
        None => Ok(response),
    }
}
