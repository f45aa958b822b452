//! Reads for pages and the API, by aggregate: `volumes` (a volume, its movements, search),
//! `places` (locations, stations), `people` (tokens, users), `activity` (counts, exceptions, the
//! live feed's recent answers). Every function takes a read-only connection; those that show
//! patients take an [`Audited`](super::audit::Audited) one, which nothing outside `store` can
//! make without writing the access-log entry first.

mod activity;
mod people;
mod places;
mod volumes;

pub use activity::*;
pub use people::*;
pub use places::*;
pub use volumes::*;
