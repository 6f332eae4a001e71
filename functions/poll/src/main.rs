use ferry_runtime::aws::aws_engine;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .init();
    let rt = aws_engine().await?;
    let engine = rt.engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let engine = engine.clone();
        async move { ferry_fn_poll::handle(&engine, event.payload, chrono::Utc::now()).await.map_err(Error::from) }
    }))
    .await
}
