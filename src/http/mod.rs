//! The HTTP edge: the server, what requests share, the routes, and the
//! pages. The only module that knows statuses and headers; everything
//! below it (the pool, the cache, signing, the rendering crate) returns its
//! own errors, which `error` maps.

mod bounds;
mod conditional;
pub mod error;
mod freshness;
mod naming;
mod openapi;
mod pages;
mod reload;
mod request;
mod response;
mod route;
mod routes;
mod server;
mod settings;
mod startup;
mod state;
pub mod target;
mod urls;

pub use server::Application;
pub(crate) use server::shutdown_signal;
pub use state::AppState;
