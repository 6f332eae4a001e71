use ferry_runtime::aws::aws_engine;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry_runtime::logging::init();
    let runner = std::sync::Arc::new(ferry_fn_commits::runner(&aws_engine().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let runner = runner.clone();
        async move {
            let deadline = Some(event.context.deadline());
            ferry_fn_commits::handle_until(&runner, event.payload, deadline).await.map_err(Error::from)
        }
    }))
    .await
}
