use aws_lambda_events::event::sqs::SqsEvent;
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let engine = engine.clone();
        async move { Ok::<_, Error>(ferry_fn_write::handle(&engine, event.payload).await) }
    }))
    .await
}
