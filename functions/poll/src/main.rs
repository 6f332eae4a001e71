use ferry_runtime::aws::aws_engine;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry_runtime::logging::init();
    let rt = aws_engine().await?;
    let engine = rt.engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let engine = engine.clone();
        async move {
            let deadline = Some(event.context.deadline());
            ferry_fn_poll::handle_until(&engine, event.payload, chrono::Utc::now(), deadline).await.map_err(Error::from)
        }
    }))
    .await
}
