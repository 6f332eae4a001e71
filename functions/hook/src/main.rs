use ferry_runtime::aws::aws_hook_runtime;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry_runtime::logging::init();
    let rt = std::sync::Arc::new(aws_hook_runtime().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let rt = rt.clone();
        async move {
            let hook = ferry_fn_hook::Hook { engine: &rt.engine, secrets: &*rt.secrets, trigger: &*rt.trigger };
            Ok::<_, Error>(ferry_fn_hook::handle(&hook, event.payload, chrono::Utc::now()).await)
        }
    }))
    .await
}
