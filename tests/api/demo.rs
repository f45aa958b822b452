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
    // The simulator scans at its own stations: a person at a demo station keeps its memory
    // (who scans, where the charts go) to herself.
    let (on_people_stations, without_user): (i64, i64) = app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FILTER (WHERE station_id NOT LIKE 'sim-%'), count(*) FILTER (WHERE user_id IS NULL) FROM scan",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        on_people_stations, 0,
        "simulated scans at the people's stations"
    );
    assert_eq!(without_user, 0, "simulated scans by nobody");
    assert_eq!(moves_by("clerk1").await, 0, "clerk1 never scanned anything");
    assert_eq!(moves_by("nurse1").await, 0, "nor did nurse1");
    // Nobody signs in as a simulated person.
    let r = app.try_sign_in(chartrack::demo::SIM_CLERK, "").await;
    assert_eq!(r.status(), 401);
}

/// The demo as a person meets it: nurse1 works on 4 West (her request form delivers there), and
/// the file room's check-out and filing stations are the file room's, not a nurse's.
#[tokio::test]
async fn the_demo_nurse_has_a_home_unit_and_the_file_rooms_stations_are_the_file_rooms() {
    let app = TestApp::spawn().await;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || chartrack::demo::seed(&store, 60))
        .await
        .unwrap()
        .unwrap();
    let home = app
        .store
        .read(|c| {
            let id = chartrack::store::query::user_by_name(c, "nurse1")?
                .unwrap()
                .id;
            chartrack::store::query::home_of(c, id)
        })
        .await
        .unwrap();
    assert_eq!(home.as_deref(), Some("4W"));
    let nurse = app
        .token_for(chartrack::store::admin::TokenFor::User("nurse1".into()))
        .await;
    for station in [
        "demo-fileroom-out",
        "demo-fileroom-in",
        "demo-fileroom-file",
    ] {
        let (s, e) = app
            .post(
                "/api/v1/scans",
                &nurse,
                &serde_json::json!({"station": station, "barcode": "CMD-DONE"}),
            )
            .await;
        assert_eq!(s, 403, "{station}: {e}");
    }
}
