//! Live pages' streams end with the caller's access. A page left open on a wall or a floor
//! must not go on saying "live" after its session ended (signed out, idle, expired, the user
//! disabled) or its display was revoked: the stream asks again before sending an event (at most
//! every few seconds) and, while quiet, every little while. When access has ended it sends a
//! last `signed-out` event and closes; the page's script then stops and says so.

use crate::auth;
use crate::service::{AppState, Caller};
use axum::response::sse::Event;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;

/// A quiet stream asks this often whether its caller's access still holds.
const CHECK_EVERY: Duration = Duration::from_secs(15);
/// An event goes out after asking again, unless the last answer is fresher than this (by the
/// store's clock, the one sessions are judged by).
const RECHECK_AFTER: chrono::Duration = chrono::Duration::seconds(2);

enum Step {
    Send(Result<Event, Infallible>),
    Check,
    End,
}

/// `events`, for as long as `caller`'s access holds; then one `signed-out` event and the end.
/// A storage hiccup while asking is not taken for a sign-out: the stream goes on and asks again.
pub(super) fn while_access_holds<S>(
    s: AppState,
    caller: Caller,
    events: S,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let ticks = stream::unfold((), |()| async {
        tokio::time::sleep(CHECK_EVERY).await;
        Some((Step::Check, ()))
    });
    let steps = stream::select(
        events
            .map(Step::Send)
            .chain(stream::once(async { Step::End })),
        ticks,
    );
    let state = (Box::pin(steps), None::<DateTime<Utc>>, s, caller);
    stream::unfold(Some(state), |state| async move {
        let (mut steps, mut asked, s, caller) = state?;
        loop {
            let step = steps.next().await?;
            let event = match step {
                Step::End => return None,
                Step::Check => None,
                Step::Send(e) => Some(e),
            };
            let now = s.store.clock().now();
            let due = event.is_none() || asked.is_none_or(|t| now - t >= RECHECK_AFTER);
            if due {
                asked = Some(now);
                if let Ok(false) = auth::still_holds(&s, &caller).await {
                    let last = Event::default()
                        .event("signed-out")
                        .data("your access ended");
                    return Some((Ok(last), None));
                }
            }
            if let Some(e) = event {
                return Some((e, Some((steps, asked, s, caller))));
            }
        }
    })
}
