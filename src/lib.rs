//! chartrack: tracks paper medical charts through a hospital with barcode scanners.
//!
//! Every scan takes one path: normalise (`domain`) → classify (`store::scan`) → the station
//! state machine (`engine`, pure) → the single writer commits (`store::writer`) → the answer goes
//! back to the station and the live feed. Read `ARCHITECTURE.md` for the map.

pub mod agent;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod hl7;
pub mod import;
pub mod labels;
pub mod metrics;
pub mod passwords;
pub mod server;
pub mod service;
pub mod stations;
pub mod store;
pub mod web;
