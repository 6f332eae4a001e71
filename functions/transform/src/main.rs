use aws_lambda_events::event::sqs::SqsEvent;
use ferry_runtime::aws::aws_engine;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry_runtime::logging::init();
    let rt = aws_engine().await?;
    let engine = rt.engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let engine = engine.clone();
        let deadline = event.context.deadline();
        async move { Ok::<_, Error>(ferry_fn_transform::handle_until(&engine, event.payload, deadline).await) }
    }))
    .await
}
