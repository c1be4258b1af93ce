//! Every HTTP call the app makes goes through here, with the wire types from `domain`.

use domain::wire::{Health, Problem};
use gloo_net::http::{Request, Response};

/// A failed call, ready to show to a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub message: String,
}

/// `GET /healthz`: is the server up, and which version is it?
pub async fn health() -> Result<Health, ApiFailure> {
    let response = Request::get("/healthz").send().await.map_err(network_failure)?;
    json_or_problem(response).await
}

async fn json_or_problem<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ApiFailure> {
    if response.ok() {
        return response.json::<T>().await.map_err(|e| ApiFailure { message: e.to_string() });
    }
    let status = response.status();
    Err(match response.json::<Problem>().await {
        Ok(problem) => ApiFailure { message: problem.detail.unwrap_or(problem.title) },
        Err(_) => ApiFailure { message: format!("The server answered {status}.") },
    })
}

fn network_failure(err: gloo_net::Error) -> ApiFailure {
    ApiFailure { message: format!("The server cannot be reached ({err}).") }
}
