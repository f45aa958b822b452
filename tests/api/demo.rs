//! The demo hospital: its simulated stations scan as simulated people, not as the demo users a
//! person signs in as (whose history would otherwise fill with scans they never made).

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_stations_scan_as_simulated_people() {
    let app = TestApp::spawn().await;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || chartrack::demo::seed(&store, 60))
        .await
        .unwrap()
        .unwrap();
    let sim = tokio::spawn(chartrack::demo::simulate(
        app.store.clone(),
        Duration::from_millis(5),
        None,
    ));
    let moves_by = |name: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT count(*) FROM movement m JOIN app_user u ON u.user_id = m.user_id WHERE u.name = ?",
                        [name],
                        |r| r.get::<_, i64>(0),
                    )?)
                })
                .await
                .unwrap()
        }
    };
    until(
        Duration::from_secs(30),
        "a simulated clerk's movement",
        || async { moves_by(chartrack::demo::SIM_CLERK).await > 0 },
    )
    .await;
    sim.abort();
    assert_eq!(moves_by("clerk1").await, 0, "clerk1 never scanned anything");
    assert_eq!(moves_by("nurse1").await, 0, "nor did nurse1");
    // Nobody signs in as a simulated person.
    let r = app.try_sign_in(chartrack::demo::SIM_CLERK, "").await;
    assert_eq!(r.status(), 401);
}
