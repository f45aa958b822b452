//! Integration tests: the real server on a random port with a temporary database, over HTTP;
//! the real binary for the command line. One test binary (modules below).

mod agent;
mod audit_log;
mod barcode_case;
mod browser;
mod cli;
mod configured;
mod conventions;
mod demo;
mod dependencies;
mod faults;
mod helpers;
mod inputs;
mod layers;
mod ledger;
mod local_time;
mod openapi;
mod pages;
mod robust;
mod scans;
mod serial;
mod stations_access;
mod volumes;
mod workflow_pages;
mod workflows;
