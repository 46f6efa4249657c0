//! The HTTP edge: the server, what requests share, the routes, and the
//! pages. The only module that knows statuses and headers; everything
//! below it (cache, signing, the rendering crate) returns its own errors,
//! which `error` maps.

mod bounds;
mod conditional;
pub mod error;
mod freshness;
mod openapi;
mod pages;
mod response;
mod routes;
pub mod server;
mod startup;
mod state;
mod urls;

pub use routes::MAX_URI_BYTES;
pub use server::Application;
pub use state::AppState;
