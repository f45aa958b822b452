//! Versioned migrations, tracked in SQLite's `user_version`. Never edit an applied migration;
//! append a new one. A database from a newer chartrack is refused. One file past 600 lines on
//! purpose: `MIGRATIONS` is one ordered list whose position is the schema version, read top to
//! bottom as the schema's history; splitting it would hide the order the versions depend on.

use rusqlite::Connection;

/// Each entry moves the schema from version `index` to `index + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
-- v1: the chart ledger.
CREATE TABLE patient (
    patient_id   INTEGER PRIMARY KEY,
    mrn          TEXT NOT NULL UNIQUE,
    last_name    TEXT NOT NULL,
    first_name   TEXT NOT NULL,
    birth_date   TEXT,                          -- YYYY-MM-DD; minimum necessary, nothing more
    restricted   INTEGER NOT NULL DEFAULT 0,    -- VIP / behavioural health: location shown only to the authorised
    created_at   TEXT NOT NULL
);
CREATE INDEX patient_name ON patient(last_name COLLATE NOCASE, first_name COLLATE NOCASE);

CREATE TABLE location (
    location_id  INTEGER PRIMARY KEY,
    code         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('shelf','unit','clinic','office','offsite','person','container')),
    barcode      TEXT NOT NULL UNIQUE,
    terminal_lo  INTEGER CHECK (terminal_lo BETWEEN 0 AND 99),  -- shelf sections: terminal digits filed here
    terminal_hi  INTEGER CHECK (terminal_hi BETWEEN 0 AND 99),
    created_at   TEXT NOT NULL
);

CREATE TABLE volume (
    volume_id    INTEGER PRIMARY KEY,
    barcode      TEXT NOT NULL UNIQUE,
    patient_id   INTEGER NOT NULL REFERENCES patient(patient_id),
    volume_no    INTEGER NOT NULL DEFAULT 1,
    record_type  TEXT NOT NULL DEFAULT 'medical',
    home_id      INTEGER NOT NULL REFERENCES location(location_id),
    created_at   TEXT NOT NULL
);
CREATE INDEX volume_patient ON volume(patient_id);

CREATE TABLE app_user (
    user_id      INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('clerk','nurse','supervisor','admin')),
    password_hash TEXT,                         -- argon2id PHC string
    must_change_password INTEGER NOT NULL DEFAULT 0,
    badge        TEXT UNIQUE,                   -- badge barcode
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL
);

CREATE TABLE station (
    station_id   TEXT PRIMARY KEY,
    location_id  INTEGER NOT NULL REFERENCES location(location_id),
    mode         TEXT NOT NULL CHECK (mode IN ('check-out','check-in','receive','transfer','file','inventory')),
    port         TEXT,
    usb          TEXT,
    memory       TEXT NOT NULL DEFAULT '{}',    -- the engine's short memory (JSON), written with each scan
    connected    INTEGER NOT NULL DEFAULT 0,    -- serial stations: is the scanner there
    last_scan_at TEXT,
    created_at   TEXT NOT NULL
);

CREATE TABLE token (
    token_id     INTEGER PRIMARY KEY,
    digest       TEXT NOT NULL UNIQUE,          -- SHA-256 of the bearer token; the token itself is never stored
    station_id   TEXT REFERENCES station(station_id),
    user_id      INTEGER REFERENCES app_user(user_id),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    CHECK ((station_id IS NULL) <> (user_id IS NULL))
);

CREATE TABLE loose_report (
    report_id    INTEGER PRIMARY KEY,
    barcode      TEXT NOT NULL UNIQUE,
    patient_id   INTEGER NOT NULL REFERENCES patient(patient_id),
    description  TEXT NOT NULL,
    filed_volume_id INTEGER REFERENCES volume(volume_id),
    filed_at     TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX loose_report_waiting ON loose_report(patient_id) WHERE filed_at IS NULL;

-- Every scan received, whatever became of it. scan_id is the client's unique id (idempotency).
CREATE TABLE scan (
    scan_seq     INTEGER PRIMARY KEY,           -- the order scans were committed in (the truth for "last")
    scan_id      TEXT NOT NULL UNIQUE,
    station_id   TEXT NOT NULL REFERENCES station(station_id),
    user_id      INTEGER REFERENCES app_user(user_id),
    value        TEXT NOT NULL,                 -- normalised value, or a printable rendering of a refused line
    received_at  TEXT NOT NULL,
    scanned_at   TEXT,                          -- when the scanner read it, if the sender says (agents)
    accepted     INTEGER NOT NULL,
    action       TEXT NOT NULL,
    response     TEXT NOT NULL                  -- the answer given, replayed for a repeated scan_id
);
CREATE INDEX scan_station ON scan(station_id, scan_seq);

CREATE TABLE movement (
    movement_id  INTEGER PRIMARY KEY,
    scan_seq     INTEGER NOT NULL REFERENCES scan(scan_seq),
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    action       TEXT NOT NULL,
    from_id      INTEGER REFERENCES location(location_id),
    to_id        INTEGER REFERENCES location(location_id),
    at           TEXT NOT NULL,
    station_id   TEXT NOT NULL REFERENCES station(station_id),
    user_id      INTEGER REFERENCES app_user(user_id),
    receiver_id  INTEGER REFERENCES app_user(user_id)
);
CREATE INDEX movement_volume ON movement(volume_id, movement_id);
CREATE TRIGGER movement_append_only_update BEFORE UPDATE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;
CREATE TRIGGER movement_append_only_delete BEFORE DELETE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;

-- The current state of each volume, updated in the same transaction as its movement.
CREATE TABLE volume_state (
    volume_id    INTEGER PRIMARY KEY REFERENCES volume(volume_id),
    status       TEXT NOT NULL CHECK (status IN ('on_shelf','in_transit','at_location','missing')),
    location_id  INTEGER NOT NULL REFERENCES location(location_id),
    destination_id INTEGER REFERENCES location(location_id),
    container_id INTEGER REFERENCES location(location_id),
    since        TEXT NOT NULL,                 -- when it reached this status (overdue is measured from here)
    last_movement_id INTEGER REFERENCES movement(movement_id),
    last_scan_at TEXT,
    last_station_id TEXT REFERENCES station(station_id),
    last_user_id INTEGER REFERENCES app_user(user_id),
    last_location_id INTEGER REFERENCES location(location_id)
);
CREATE INDEX volume_state_location ON volume_state(location_id);
CREATE INDEX volume_state_container ON volume_state(container_id) WHERE container_id IS NOT NULL;

-- Values nobody could classify, for a supervisor to resolve.
CREATE TABLE exception (
    exception_id INTEGER PRIMARY KEY,
    scan_seq     INTEGER NOT NULL REFERENCES scan(scan_seq),
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    station_id   TEXT NOT NULL REFERENCES station(station_id),
    created_at   TEXT NOT NULL,
    resolved_at  TEXT,
    resolved_by  INTEGER REFERENCES app_user(user_id),
    resolution   TEXT
);
CREATE INDEX exception_open ON exception(exception_id) WHERE resolved_at IS NULL;
"#,
    r#"
-- v2: scanner stations report their link: why it is down and since when.
ALTER TABLE station ADD COLUMN link_error TEXT;           -- the reason the scanner is not connected
ALTER TABLE station ADD COLUMN link_changed_at TEXT;      -- when it connected or was lost
"#,
    r#"
-- v3: the access log (tamper-evident), sign-in sessions and failed sign-ins.
-- Every view of patient data, every search that shows patients, and every sign-in event.
-- Each row is chained to the one before: row_hash = SHA-256(prev_hash || canonical row).
CREATE TABLE access_log (
    entry_id     INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    user_id      INTEGER REFERENCES app_user(user_id),
    actor        TEXT NOT NULL,                 -- user name or station id, as it was then
    action       TEXT NOT NULL,                 -- view-volume, search, view-location, sign-in, ...
    subject      TEXT NOT NULL,                 -- what was looked at (barcode, search text, location code)
    remote       TEXT NOT NULL,                 -- where from (IP address, or 'local')
    prev_hash    TEXT NOT NULL,
    row_hash     TEXT NOT NULL UNIQUE
);
CREATE INDEX access_log_subject ON access_log(subject, entry_id);
CREATE INDEX access_log_user ON access_log(user_id, entry_id);
CREATE TRIGGER access_log_append_only_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_log_append_only_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

-- Browser sessions. The cookie holds a random secret; only its SHA-256 is stored.
CREATE TABLE session (
    session_id   INTEGER PRIMARY KEY,
    digest       TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES app_user(user_id),
    csrf         TEXT NOT NULL,                 -- the session's anti-forgery token
    remote       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at     TEXT,
    end_reason   TEXT                           -- sign-out, idle, expired
);
CREATE INDEX session_user ON session(user_id) WHERE ended_at IS NULL;

-- Failed sign-ins, by account and by address, for rate limiting that survives a restart.
CREATE TABLE login_failure (
    key          TEXT NOT NULL,                 -- 'user:NAME' or 'addr:IP'
    at           TEXT NOT NULL
);
CREATE INDEX login_failure_key ON login_failure(key, at);

-- The dashboard's counts by status and its overdue count read this index, not every volume.
CREATE INDEX volume_state_status ON volume_state(status, since);
"#,
    r#"
-- v4: the workflows: requests, loose-report receipt and routing, missing marks, stocktakes, misfiles.
-- A request for a volume to be delivered to a location. Its slip carries its own barcode.
CREATE TABLE request (
    request_id   INTEGER PRIMARY KEY,
    barcode      TEXT NOT NULL UNIQUE,          -- the slip's barcode (Q + 7 digits + check character)
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    location_id  INTEGER NOT NULL REFERENCES location(location_id),  -- deliver to
    priority     TEXT NOT NULL CHECK (priority IN ('stat','routine')),
    needed_by    TEXT,
    reason       TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open','pulled','delivered','cancelled','not_found')),
    holder_id    INTEGER REFERENCES location(location_id),  -- set when asked of whoever held it (a transfer request)
    requested_by INTEGER REFERENCES app_user(user_id),
    created_at   TEXT NOT NULL,
    pulled_at    TEXT,
    pulled_by    INTEGER REFERENCES app_user(user_id),
    pulled_station TEXT,
    delivered_at TEXT,
    delivered_by INTEGER REFERENCES app_user(user_id),
    delivered_station TEXT,
    ended_at     TEXT,                          -- cancelled or not found
    ended_by     INTEGER REFERENCES app_user(user_id),
    end_reason   TEXT,                          -- a coded reason (domain::EndReason)
    end_note     TEXT
);
CREATE INDEX request_active ON request(volume_id) WHERE status IN ('open','pulled');
CREATE INDEX request_status ON request(status, request_id);
CREATE INDEX request_location ON request(location_id, request_id);
CREATE INDEX request_delivered ON request(delivered_at) WHERE delivered_at IS NOT NULL;
ALTER TABLE movement ADD COLUMN request_id INTEGER REFERENCES request(request_id);

-- Loose reports: the clock starts at the first receive scan; routed to the volume's floor.
ALTER TABLE loose_report ADD COLUMN received_at TEXT;
ALTER TABLE loose_report ADD COLUMN received_station TEXT;
ALTER TABLE loose_report ADD COLUMN routed_to INTEGER REFERENCES location(location_id);
ALTER TABLE loose_report ADD COLUMN registered_by INTEGER REFERENCES app_user(user_id);
CREATE INDEX loose_report_unfiled ON loose_report(created_at) WHERE filed_at IS NULL;

-- A volume marked missing by a supervisor, and where it turned up.
CREATE TABLE missing_mark (
    mark_id      INTEGER PRIMARY KEY,
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    reason       TEXT NOT NULL,                 -- a coded reason (domain::MissingReason)
    note         TEXT,
    marked_at    TEXT NOT NULL,
    marked_by    INTEGER REFERENCES app_user(user_id),
    found_at     TEXT,
    found_scan_seq INTEGER REFERENCES scan(scan_seq),
    found_location_id INTEGER REFERENCES location(location_id),
    found_station TEXT,
    found_by     INTEGER REFERENCES app_user(user_id),
    acknowledged_at TEXT,                       -- the supervisor has seen that it was found
    acknowledged_by INTEGER REFERENCES app_user(user_id)
);
CREATE UNIQUE INDEX missing_mark_open ON missing_mark(volume_id) WHERE found_at IS NULL;
CREATE INDEX missing_mark_found ON missing_mark(found_at) WHERE found_at IS NOT NULL AND acknowledged_at IS NULL;

-- A stocktake: one station's session over a shelf location or a terminal-digit range.
CREATE TABLE stocktake (
    stocktake_id INTEGER PRIMARY KEY,
    station_id   TEXT NOT NULL REFERENCES station(station_id),
    location_id  INTEGER REFERENCES location(location_id),  -- scope: one shelf location ...
    terminal_lo  INTEGER CHECK (terminal_lo BETWEEN 0 AND 99),  -- ... or a terminal-digit range
    terminal_hi  INTEGER CHECK (terminal_hi BETWEEN 0 AND 99),
    opened_at    TEXT NOT NULL,
    opened_by    INTEGER REFERENCES app_user(user_id),
    closed_at    TEXT,
    closed_by    INTEGER REFERENCES app_user(user_id),
    CHECK ((location_id IS NULL) <> (terminal_lo IS NULL))
);
CREATE UNIQUE INDEX stocktake_open ON stocktake(station_id) WHERE closed_at IS NULL;
-- The frozen expected list (expected = 1) and every volume seen during the session.
CREATE TABLE stocktake_item (
    stocktake_id INTEGER NOT NULL REFERENCES stocktake(stocktake_id),
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    expected     INTEGER NOT NULL,
    seen_seq     INTEGER REFERENCES scan(scan_seq),
    result       TEXT,                          -- confirmed | corrected (recorded elsewhere) | unexpected
    PRIMARY KEY (stocktake_id, volume_id)
) WITHOUT ROWID;

-- Misfiles found on the shelves: wrong section, or out of terminal-digit order.
CREATE TABLE misfile (
    misfile_id   INTEGER PRIMARY KEY,
    scan_seq     INTEGER NOT NULL REFERENCES scan(scan_seq),
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    location_id  INTEGER NOT NULL REFERENCES location(location_id),  -- the shelf section it was found in
    kind         TEXT NOT NULL CHECK (kind IN ('wrong_section','out_of_order')),
    stocktake_id INTEGER REFERENCES stocktake(stocktake_id),
    at           TEXT NOT NULL
);
CREATE INDEX misfile_location ON misfile(location_id, at);
CREATE INDEX scan_received ON scan(received_at);
"#,
    r#"
-- v5: a configured station whose location does not exist yet waits here, and is applied in the
-- transaction that creates its location (CSV import, admin page, API), whichever process does it.
CREATE TABLE station_waiting (
    station_id    TEXT PRIMARY KEY,
    location_code TEXT NOT NULL,
    mode          TEXT NOT NULL,
    port          TEXT,
    usb           TEXT,
    since         TEXT NOT NULL
);
CREATE INDEX station_waiting_location ON station_waiting(location_code);
"#,
    r#"
-- v6: barcodes are case-insensitive (a keyboard-wedge scanner types lower case when Caps Lock
-- is on) and stored in upper case, the form every lookup uses (domain::Barcode::canonical).
-- Barcodes imported or entered in lower case before are upper-cased. If two barcodes of one kind
-- differ only in case, upper-casing would merge two labels: the migration is refused, naming
-- the kind, and nothing changes.
CREATE TEMP TABLE case_clash (kind TEXT NOT NULL);
CREATE TEMP TRIGGER case_clash_volume BEFORE INSERT ON case_clash WHEN NEW.kind = 'volume'
BEGIN SELECT RAISE(ABORT, 'barcodes are case-insensitive from this version, but two volume barcodes differ only in letter case; nothing was changed. Find them with: SELECT barcode FROM volume GROUP BY upper(barcode) HAVING count(*) > 1; change one of each pair, then start chartrack again'); END;
CREATE TEMP TRIGGER case_clash_location BEFORE INSERT ON case_clash WHEN NEW.kind = 'location'
BEGIN SELECT RAISE(ABORT, 'barcodes are case-insensitive from this version, but two location barcodes differ only in letter case; nothing was changed. Find them with: SELECT barcode FROM location GROUP BY upper(barcode) HAVING count(*) > 1; change one of each pair, then start chartrack again'); END;
CREATE TEMP TRIGGER case_clash_report BEFORE INSERT ON case_clash WHEN NEW.kind = 'report'
BEGIN SELECT RAISE(ABORT, 'barcodes are case-insensitive from this version, but two loose report barcodes differ only in letter case; nothing was changed. Find them with: SELECT barcode FROM loose_report GROUP BY upper(barcode) HAVING count(*) > 1; change one of each pair, then start chartrack again'); END;
CREATE TEMP TRIGGER case_clash_request BEFORE INSERT ON case_clash WHEN NEW.kind = 'request'
BEGIN SELECT RAISE(ABORT, 'barcodes are case-insensitive from this version, but two request slip barcodes differ only in letter case; nothing was changed. Find them with: SELECT barcode FROM request GROUP BY upper(barcode) HAVING count(*) > 1; change one of each pair, then start chartrack again'); END;
CREATE TEMP TRIGGER case_clash_badge BEFORE INSERT ON case_clash WHEN NEW.kind = 'badge'
BEGIN SELECT RAISE(ABORT, 'barcodes are case-insensitive from this version, but two badge barcodes differ only in letter case; nothing was changed. Find them with: SELECT badge FROM app_user GROUP BY upper(badge) HAVING count(*) > 1; change one of each pair, then start chartrack again'); END;
INSERT INTO case_clash SELECT 'volume' FROM volume WHERE barcode IS NOT NULL GROUP BY upper(barcode) HAVING count(*) > 1;
INSERT INTO case_clash SELECT 'location' FROM location WHERE barcode IS NOT NULL GROUP BY upper(barcode) HAVING count(*) > 1;
INSERT INTO case_clash SELECT 'report' FROM loose_report WHERE barcode IS NOT NULL GROUP BY upper(barcode) HAVING count(*) > 1;
INSERT INTO case_clash SELECT 'request' FROM request WHERE barcode IS NOT NULL GROUP BY upper(barcode) HAVING count(*) > 1;
INSERT INTO case_clash SELECT 'badge' FROM app_user WHERE badge IS NOT NULL GROUP BY upper(badge) HAVING count(*) > 1;
DROP TABLE case_clash;
UPDATE volume SET barcode = upper(barcode) WHERE barcode <> upper(barcode);
UPDATE location SET barcode = upper(barcode) WHERE barcode <> upper(barcode);
UPDATE loose_report SET barcode = upper(barcode) WHERE barcode <> upper(barcode);
UPDATE request SET barcode = upper(barcode) WHERE barcode <> upper(barcode);
UPDATE app_user SET badge = upper(badge) WHERE badge <> upper(badge);
"#,
    r#"
-- v7: a stocktake's misfiles by volume: each inventory scan reads which charts counted so far
-- were already named (the terminal-digit order is judged over the whole run).
CREATE INDEX misfile_stocktake ON misfile(stocktake_id, volume_id);
"#,
    r#"
-- v8: a user's home unit: where the request form delivers to unless told otherwise.
ALTER TABLE app_user ADD COLUMN home_location_id INTEGER REFERENCES location(location_id);
"#,
    r#"
-- v9: a location may be a desk (a work area: the file room's check-in desk), and a station says
-- who may drive it: the roles and the home units allowed (comma-separated; empty: anyone).
-- SQLite cannot change a CHECK constraint, so the location table is rebuilt; `migrate` turns
-- foreign keys off around each step and checks them before it commits.
CREATE TABLE location_v10 (
    location_id  INTEGER PRIMARY KEY,
    code         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('shelf','desk','unit','clinic','office','offsite','person','container')),
    barcode      TEXT NOT NULL UNIQUE,
    terminal_lo  INTEGER CHECK (terminal_lo BETWEEN 0 AND 99),  -- shelf sections: terminal digits filed here
    terminal_hi  INTEGER CHECK (terminal_hi BETWEEN 0 AND 99),
    created_at   TEXT NOT NULL
);
INSERT INTO location_v10 (location_id, code, name, kind, barcode, terminal_lo, terminal_hi, created_at)
    SELECT location_id, code, name, kind, barcode, terminal_lo, terminal_hi, created_at FROM location;
DROP TABLE location;
ALTER TABLE location_v10 RENAME TO location;
ALTER TABLE station ADD COLUMN allowed_roles TEXT NOT NULL DEFAULT '';
ALTER TABLE station ADD COLUMN allowed_locations TEXT NOT NULL DEFAULT '';
ALTER TABLE station_waiting ADD COLUMN allowed_roles TEXT NOT NULL DEFAULT '';
ALTER TABLE station_waiting ADD COLUMN allowed_locations TEXT NOT NULL DEFAULT '';
"#,
    r#"
-- v10: wall displays. A screen on a wall opens one location's display page with a secret of its
-- own (created by an admin, revocable), not a person's session: it sees that page and nothing
-- else. Only the secret's SHA-256 is stored.
CREATE TABLE display (
    display_id   INTEGER PRIMARY KEY,
    location_id  INTEGER NOT NULL REFERENCES location(location_id),
    label        TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   INTEGER REFERENCES app_user(user_id),
    last_seen_at TEXT,
    revoked_at   TEXT,
    revoked_by   INTEGER REFERENCES app_user(user_id)
);
CREATE UNIQUE INDEX display_label ON display(label) WHERE revoked_at IS NULL;
"#,
    r#"
-- v11: the record of answered scans is append-only, like the movements and the access log: a
-- scan's answer is what a repeated scan id is told, and what the movements refer to.
CREATE TRIGGER scan_append_only_update BEFORE UPDATE ON scan
BEGIN SELECT RAISE(ABORT, 'scans are append-only'); END;
CREATE TRIGGER scan_append_only_delete BEFORE DELETE ON scan
BEGIN SELECT RAISE(ABORT, 'scans are append-only'); END;
"#,
    r#"
-- v12: break-glass: a user below supervisor opens a restricted chart in an emergency, with a typed
-- reason, for a limited time; each opening is kept (append-only) for the supervisors' review.
CREATE TABLE break_glass (
    break_glass_id INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES app_user(user_id),
    volume_id    INTEGER NOT NULL REFERENCES volume(volume_id),
    patient_id   INTEGER NOT NULL REFERENCES patient(patient_id),
    reason       TEXT NOT NULL,
    opened_at    TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    access_entry_id INTEGER NOT NULL          -- the access-log entry written with it
);
CREATE INDEX break_glass_user ON break_glass(user_id, patient_id, expires_at);
CREATE INDEX break_glass_opened ON break_glass(opened_at);
CREATE TRIGGER break_glass_append_only_update BEFORE UPDATE ON break_glass
BEGIN SELECT RAISE(ABORT, 'break-glass openings are append-only'); END;
CREATE TRIGGER break_glass_append_only_delete BEFORE DELETE ON break_glass
BEGIN SELECT RAISE(ABORT, 'break-glass openings are append-only'); END;
"#,
    r#"
-- v13: every label printed or reprinted (who, what, which printer, why), for the supervisors;
-- append-only.
CREATE TABLE print_job (
    print_id     INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    user_id      INTEGER REFERENCES app_user(user_id),
    kind         TEXT NOT NULL,
    items        TEXT NOT NULL,
    item_count   INTEGER NOT NULL,
    printer      TEXT NOT NULL,
    copies       INTEGER NOT NULL,
    reason       TEXT
);
CREATE INDEX print_job_at ON print_job(at);
CREATE INDEX print_job_item ON print_job(kind, items);
CREATE TRIGGER print_job_append_only_update BEFORE UPDATE ON print_job
BEGIN SELECT RAISE(ABORT, 'the print record is append-only'); END;
CREATE TRIGGER print_job_append_only_delete BEFORE DELETE ON print_job
BEGIN SELECT RAISE(ABORT, 'the print record is append-only'); END;
"#,
    r#"
-- v14: what the database knows of its access log's anchor file (the file itself is outside): since
-- when one has been written, and a loss noticed and not yet accepted (`chartrack audit reanchor`).
CREATE TABLE audit_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    anchored_since TEXT,
    lost_entry     INTEGER,
    lost_at        TEXT
);
INSERT INTO audit_state (id) VALUES (1);
"#,
    r#"
-- v15: the hospital's HL7 v2 feeds (src/hl7). Every message received and what it was answered:
-- an applied one (AA) is remembered by its sender and control id (MSH-3^MSH-4, MSH-10), so a
-- resend is applied once; one not applied (AE, AR) keeps its reason and raw text for the
-- supervisors' exceptions page.
CREATE TABLE hl7_message (
    message_id   INTEGER PRIMARY KEY,
    sender       TEXT NOT NULL,                 -- MSH-3^MSH-4: sending application and facility
    control_id   TEXT NOT NULL,                 -- MSH-10 ('' when the message could not be read)
    kind         TEXT NOT NULL,                 -- ADT^A01, SIU^S12, ... ('' when unreadable)
    received_at  TEXT NOT NULL,
    ack_code     TEXT NOT NULL CHECK (ack_code IN ('AA','AE','AR')),
    reason       TEXT,                          -- why it was not applied
    raw          TEXT,                          -- the message as received, when not applied
    dismissed_at TEXT,                          -- a supervisor took a message not applied off the list
    dismissed_by INTEGER REFERENCES app_user(user_id)
);
CREATE UNIQUE INDEX hl7_message_applied ON hl7_message(sender, control_id) WHERE ack_code = 'AA';
CREATE INDEX hl7_message_unapplied ON hl7_message(message_id) WHERE ack_code <> 'AA';

-- Where the patient is, from the registration system (A01, A02; A03 discharges).
CREATE TABLE patient_unit (
    patient_id   INTEGER PRIMARY KEY REFERENCES patient(patient_id),
    unit_id      INTEGER REFERENCES location(location_id),
    discharged   INTEGER NOT NULL DEFAULT 0,
    at           TEXT NOT NULL
);

-- Merges, kept: which MRN was retired into which patient, by which message, when. A retired
-- MRN takes no more messages; search by it finds the surviving patient's charts.
CREATE TABLE patient_merge (
    merge_id     INTEGER PRIMARY KEY,
    surviving_id INTEGER NOT NULL REFERENCES patient(patient_id),
    retired_mrn  TEXT NOT NULL,
    retired_id   INTEGER NOT NULL REFERENCES patient(patient_id),
    message_id   INTEGER NOT NULL REFERENCES hl7_message(message_id),
    merged_at    TEXT NOT NULL,
    volumes      INTEGER NOT NULL,
    reports      INTEGER NOT NULL
);
CREATE INDEX patient_merge_retired ON patient_merge(retired_mrn);
CREATE INDEX patient_merge_surviving ON patient_merge(surviving_id);

-- The requests a clinic appointment (SIU S12) made, by the scheduler's appointment id.
-- Two appointments of one patient at one clinic share the request for a chart; it is cancelled
-- when the last of them is.
CREATE TABLE appointment_request (
    sender       TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    request_id   INTEGER NOT NULL REFERENCES request(request_id),
    UNIQUE (sender, appointment_id, request_id)
);
CREATE INDEX appointment_request_key ON appointment_request(sender, appointment_id);
CREATE INDEX appointment_request_request ON appointment_request(request_id);
"#,
    r#"
-- v16: the counts pages show, kept by the database in the same transaction as every change, so
-- no page counts a million rows to show them (issue 18). Triggers keep them whoever writes:
-- the scan path, an import, the history generator.
CREATE TABLE tally (
    name         TEXT PRIMARY KEY,              -- 'status:on_shelf' ... , 'scans', 'scans_accepted'
    n            INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tally (name, n) SELECT 'status:' || x.s, (SELECT count(*) FROM volume_state v WHERE v.status = x.s)
    FROM (SELECT 'on_shelf' AS s UNION ALL SELECT 'in_transit' UNION ALL SELECT 'at_location' UNION ALL SELECT 'missing') x;
INSERT INTO tally (name, n) VALUES ('scans', (SELECT count(*) FROM scan));
INSERT INTO tally (name, n) VALUES ('scans_accepted', (SELECT count(*) FROM scan WHERE accepted));

-- Volumes at each place now (on its shelf or at it) and on their way to it.
CREATE TABLE place_count (
    location_id  INTEGER PRIMARY KEY REFERENCES location(location_id),
    here         INTEGER NOT NULL DEFAULT 0,
    incoming     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO place_count (location_id, here, incoming)
    SELECT l.location_id,
        (SELECT count(*) FROM volume_state s WHERE s.location_id = l.location_id AND s.status IN ('on_shelf','at_location')),
        (SELECT count(*) FROM volume_state s WHERE s.destination_id = l.location_id AND s.status = 'in_transit')
    FROM location l;
CREATE TRIGGER place_count_new AFTER INSERT ON location
BEGIN INSERT INTO place_count (location_id) VALUES (NEW.location_id); END;

CREATE TRIGGER tally_volume_in AFTER INSERT ON volume_state
BEGIN
    UPDATE tally SET n = n + 1 WHERE name = 'status:' || NEW.status;
    UPDATE place_count SET here = here + 1 WHERE location_id = NEW.location_id AND NEW.status IN ('on_shelf','at_location');
    UPDATE place_count SET incoming = incoming + 1 WHERE location_id = NEW.destination_id AND NEW.status = 'in_transit';
END;
CREATE TRIGGER tally_volume_out AFTER DELETE ON volume_state
BEGIN
    UPDATE tally SET n = n - 1 WHERE name = 'status:' || OLD.status;
    UPDATE place_count SET here = here - 1 WHERE location_id = OLD.location_id AND OLD.status IN ('on_shelf','at_location');
    UPDATE place_count SET incoming = incoming - 1 WHERE location_id = OLD.destination_id AND OLD.status = 'in_transit';
END;
CREATE TRIGGER tally_volume_moved AFTER UPDATE OF status, location_id, destination_id ON volume_state
WHEN OLD.status IS NOT NEW.status OR OLD.location_id IS NOT NEW.location_id OR OLD.destination_id IS NOT NEW.destination_id
BEGIN
    UPDATE tally SET n = n - 1 WHERE name = 'status:' || OLD.status;
    UPDATE place_count SET here = here - 1 WHERE location_id = OLD.location_id AND OLD.status IN ('on_shelf','at_location');
    UPDATE place_count SET incoming = incoming - 1 WHERE location_id = OLD.destination_id AND OLD.status = 'in_transit';
    UPDATE tally SET n = n + 1 WHERE name = 'status:' || NEW.status;
    UPDATE place_count SET here = here + 1 WHERE location_id = NEW.location_id AND NEW.status IN ('on_shelf','at_location');
    UPDATE place_count SET incoming = incoming + 1 WHERE location_id = NEW.destination_id AND NEW.status = 'in_transit';
END;
CREATE TRIGGER tally_scan AFTER INSERT ON scan
BEGIN
    UPDATE tally SET n = n + 1 WHERE name = 'scans' OR (name = 'scans_accepted' AND NEW.accepted);
END;

-- Volumes out, by the place they are at or going to and since when: the overdue count reads
-- only the overdue (each place held to its kind's loan period), and a location's page lists
-- what is there newest first without sorting everything there.
CREATE INDEX volume_state_out ON volume_state(CASE WHEN status = 'in_transit' THEN coalesce(destination_id, location_id) ELSE location_id END, since)
    WHERE status IN ('in_transit','at_location');
CREATE INDEX volume_state_here ON volume_state(location_id, since) WHERE status IN ('on_shelf','at_location');
CREATE INDEX volume_state_incoming ON volume_state(destination_id, since) WHERE status = 'in_transit';
-- Refused scans, newest first (the stations page), without reading every accepted one.
CREATE INDEX scan_refused ON scan(scan_seq) WHERE NOT accepted;
CREATE INDEX scan_refused_station ON scan(station_id, scan_seq) WHERE NOT accepted;
"#,
    r#"
-- v17: a scan's answer kept apart from the scan (issue 18). The answer (about 390 bytes of
-- JSON) is what a resent scan id is answered with; it is kept while a sender could still resend
-- (an agent's queue: 31 days) and then dropped, while the scan row, its movements and the
-- access log stay for good. It was three quarters of the bytes of every movement.
CREATE TABLE scan_answer (
    scan_seq     INTEGER PRIMARY KEY REFERENCES scan(scan_seq),
    response     TEXT NOT NULL
);
INSERT INTO scan_answer (scan_seq, response) SELECT scan_seq, response FROM scan;
CREATE TABLE scan_v17 (
    scan_seq     INTEGER PRIMARY KEY,           -- the order scans were committed in (the truth for "last")
    scan_id      TEXT NOT NULL UNIQUE,
    station_id   TEXT NOT NULL REFERENCES station(station_id),
    user_id      INTEGER REFERENCES app_user(user_id),
    value        TEXT NOT NULL,                 -- normalised value, or a printable rendering of a refused line
    received_at  TEXT NOT NULL,
    scanned_at   TEXT,                          -- when the scanner read it, if the sender says (agents)
    accepted     INTEGER NOT NULL,
    action       TEXT NOT NULL
);
INSERT INTO scan_v17 (scan_seq, scan_id, station_id, user_id, value, received_at, scanned_at, accepted, action)
    SELECT scan_seq, scan_id, station_id, user_id, value, received_at, scanned_at, accepted, action FROM scan;
DROP TABLE scan;
ALTER TABLE scan_v17 RENAME TO scan;
CREATE INDEX scan_station ON scan(station_id, scan_seq);
CREATE INDEX scan_received ON scan(received_at);
CREATE INDEX scan_refused ON scan(scan_seq) WHERE NOT accepted;
CREATE INDEX scan_refused_station ON scan(station_id, scan_seq) WHERE NOT accepted;
CREATE TRIGGER scan_append_only_update BEFORE UPDATE ON scan
BEGIN SELECT RAISE(ABORT, 'scans are append-only'); END;
CREATE TRIGGER scan_append_only_delete BEFORE DELETE ON scan
BEGIN SELECT RAISE(ABORT, 'scans are append-only'); END;
CREATE TRIGGER tally_scan AFTER INSERT ON scan
BEGIN
    UPDATE tally SET n = n + 1 WHERE name = 'scans' OR (name = 'scans_accepted' AND NEW.accepted);
END;
"#,
    r#"
-- v18: activity by day, station and user, kept by triggers as scans and movements are written,
-- so the activity report reads a row per day and pair, not every scan of its period (issue 18).
-- user_id 0: no user.
CREATE TABLE activity_day (
    day          TEXT NOT NULL,                 -- YYYY-MM-DD (UTC) the scan was received
    station_id   TEXT NOT NULL,
    user_id      INTEGER NOT NULL,
    scans        INTEGER NOT NULL DEFAULT 0,
    accepted     INTEGER NOT NULL DEFAULT 0,
    movements    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, station_id, user_id)
) WITHOUT ROWID;
INSERT INTO activity_day (day, station_id, user_id, scans, accepted)
    SELECT substr(received_at, 1, 10), station_id, coalesce(user_id, 0), count(*), sum(accepted) FROM scan GROUP BY 1, 2, 3;
INSERT INTO activity_day (day, station_id, user_id, movements)
    SELECT substr(s.received_at, 1, 10), m.station_id, coalesce(m.user_id, 0), count(*)
    FROM movement m JOIN scan s ON s.scan_seq = m.scan_seq WHERE true GROUP BY 1, 2, 3
    ON CONFLICT (day, station_id, user_id) DO UPDATE SET movements = movements + excluded.movements;
CREATE TRIGGER activity_scan AFTER INSERT ON scan
BEGIN
    INSERT INTO activity_day (day, station_id, user_id, scans, accepted)
        VALUES (substr(NEW.received_at, 1, 10), NEW.station_id, coalesce(NEW.user_id, 0), 1, NEW.accepted)
        ON CONFLICT (day, station_id, user_id) DO UPDATE SET scans = scans + 1, accepted = accepted + excluded.accepted;
END;
CREATE TRIGGER activity_movement AFTER INSERT ON movement
BEGIN
    INSERT INTO activity_day (day, station_id, user_id, movements)
        VALUES ((SELECT substr(received_at, 1, 10) FROM scan WHERE scan_seq = NEW.scan_seq), NEW.station_id, coalesce(NEW.user_id, 0), 1)
        ON CONFLICT (day, station_id, user_id) DO UPDATE SET movements = movements + 1;
END;
"#,
    r#"
-- v19: the lists of requests read only what they show, however long the request history.
-- Requests cancelled or found missing by when they ended, so a floor's "today" (its requests
-- under way and those delivered or ended since yesterday) reads only that day's requests, as
-- `request_delivered` does for the delivered ones.
CREATE INDEX request_ended ON request(ended_at) WHERE ended_at IS NOT NULL;
-- The volume's terminal-digit filing key (domain::TerminalDigit as text that sorts the same:
-- primary, secondary, then the leading digits as a number), kept by the database from the
-- patient's MRN while the request is active, so the pull list is put in order from the request
-- table and the volumes' states alone, without reading every requested volume's patient.
ALTER TABLE request ADD COLUMN filing_key TEXT;
UPDATE request SET filing_key = (SELECT substr('0000' || p.mrn, -2) || substr('0000' || p.mrn, -4, 2) || substr('000000000000000000000000000000000000000000000000' || ltrim(CASE WHEN length(p.mrn) > 4 THEN substr(p.mrn, 1, length(p.mrn) - 4) ELSE '' END, '0'), -48) FROM volume v JOIN patient p ON p.patient_id = v.patient_id
    WHERE v.volume_id = request.volume_id)
    WHERE status IN ('open','pulled');
CREATE TRIGGER request_filing_key AFTER INSERT ON request
BEGIN
    UPDATE request SET filing_key = (SELECT substr('0000' || p.mrn, -2) || substr('0000' || p.mrn, -4, 2) || substr('000000000000000000000000000000000000000000000000' || ltrim(CASE WHEN length(p.mrn) > 4 THEN substr(p.mrn, 1, length(p.mrn) - 4) ELSE '' END, '0'), -48) FROM volume v JOIN patient p ON p.patient_id = v.patient_id
        WHERE v.volume_id = NEW.volume_id)
        WHERE request_id = NEW.request_id;
END;
CREATE TRIGGER request_filing_key_volume AFTER UPDATE OF patient_id ON volume
BEGIN
    UPDATE request SET filing_key = (SELECT substr('0000' || p.mrn, -2) || substr('0000' || p.mrn, -4, 2) || substr('000000000000000000000000000000000000000000000000' || ltrim(CASE WHEN length(p.mrn) > 4 THEN substr(p.mrn, 1, length(p.mrn) - 4) ELSE '' END, '0'), -48) FROM patient p WHERE p.patient_id = NEW.patient_id)
        WHERE volume_id = NEW.volume_id AND status IN ('open','pulled');
END;
CREATE TRIGGER request_filing_key_patient AFTER UPDATE OF mrn ON patient
BEGIN
    UPDATE request SET filing_key = substr('0000' || NEW.mrn, -2) || substr('0000' || NEW.mrn, -4, 2) || substr('000000000000000000000000000000000000000000000000' || ltrim(CASE WHEN length(NEW.mrn) > 4 THEN substr(NEW.mrn, 1, length(NEW.mrn) - 4) ELSE '' END, '0'), -48)
        WHERE status IN ('open','pulled') AND volume_id IN (SELECT volume_id FROM volume WHERE patient_id = NEW.patient_id);
END;
"#,
    r#"
-- v20: activity kept by day and station, and by day and user, apart, and the patient-name index
-- in the order a search shows. The activity report reads
-- a row per station-day and per user-day (about 6,000 for 30 days of 100 stations and 100 users),
-- where a row per day, station and user was 86,000 and two sorts (66 ms at a million charts).
CREATE TABLE activity_station (
    day          TEXT NOT NULL,                 -- YYYY-MM-DD (UTC) the scan was received
    station_id   TEXT NOT NULL,
    scans        INTEGER NOT NULL DEFAULT 0,
    accepted     INTEGER NOT NULL DEFAULT 0,
    movements    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, station_id)
) WITHOUT ROWID;
CREATE TABLE activity_user (
    day          TEXT NOT NULL,
    user_id      INTEGER NOT NULL,              -- 0: no user
    scans        INTEGER NOT NULL DEFAULT 0,
    accepted     INTEGER NOT NULL DEFAULT 0,
    movements    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, user_id)
) WITHOUT ROWID;
INSERT INTO activity_station (day, station_id, scans, accepted, movements)
    SELECT day, station_id, sum(scans), sum(accepted), sum(movements) FROM activity_day GROUP BY 1, 2;
INSERT INTO activity_user (day, user_id, scans, accepted, movements)
    SELECT day, user_id, sum(scans), sum(accepted), sum(movements) FROM activity_day GROUP BY 1, 2;
DROP TRIGGER activity_scan;
DROP TRIGGER activity_movement;
DROP TABLE activity_day;
-- A search by a common surname (30,000 charts of one name at a million) is shown in name, then
-- MRN order: with the MRN in the index only one patient's volumes are sorted, not every patient
-- of the first first name (1,245 rows read and sorted for 50 shown; 9 ms, now under 1 ms).
-- Answers older than a month are dropped by a search by halves over scan_seq (scans are numbered
-- as they are received), so the index on the time goes: 39 bytes a movement at a million charts.
DROP INDEX scan_received;
DROP INDEX patient_name;
CREATE INDEX patient_name ON patient(last_name COLLATE NOCASE, first_name COLLATE NOCASE, mrn);
CREATE TRIGGER activity_scan AFTER INSERT ON scan
BEGIN
    INSERT INTO activity_station (day, station_id, scans, accepted)
        VALUES (substr(NEW.received_at, 1, 10), NEW.station_id, 1, NEW.accepted)
        ON CONFLICT (day, station_id) DO UPDATE SET scans = scans + 1, accepted = accepted + excluded.accepted;
    INSERT INTO activity_user (day, user_id, scans, accepted)
        VALUES (substr(NEW.received_at, 1, 10), coalesce(NEW.user_id, 0), 1, NEW.accepted)
        ON CONFLICT (day, user_id) DO UPDATE SET scans = scans + 1, accepted = accepted + excluded.accepted;
END;
CREATE TRIGGER activity_movement AFTER INSERT ON movement
BEGIN
    INSERT INTO activity_station (day, station_id, movements)
        VALUES ((SELECT substr(received_at, 1, 10) FROM scan WHERE scan_seq = NEW.scan_seq), NEW.station_id, 1)
        ON CONFLICT (day, station_id) DO UPDATE SET movements = movements + 1;
    INSERT INTO activity_user (day, user_id, movements)
        VALUES ((SELECT substr(received_at, 1, 10) FROM scan WHERE scan_seq = NEW.scan_seq), coalesce(NEW.user_id, 0), 1)
        ON CONFLICT (day, user_id) DO UPDATE SET movements = movements + 1;
END;
"#,
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the database is schema version {found}, newer than this chartrack understands ({latest}); use a newer chartrack")]
    TooNew { found: i64, latest: i64 },
    #[error("the database's schema version is {found}, which no chartrack ever writes: the file is damaged or was changed by hand; restore it from a backup")]
    Damaged { found: i64 },
    #[error("migration to version {version} failed: {source}")]
    Failed {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("migration to version {version} would leave {broken} row(s) referring to rows that do not exist; nothing was changed")]
    BrokenReferences { version: i64, broken: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Bring the database to the latest version, each step in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > latest() {
        return Err(MigrationError::TooNew {
            found,
            latest: latest(),
        });
    }
    // A negative version would wrap in the cast below and skip every migration.
    let done = usize::try_from(found).map_err(|_| MigrationError::Damaged { found })?;
    if done >= MIGRATIONS.len() {
        return Ok(());
    }
    // A step may rebuild a table (SQLite cannot change a CHECK constraint): dropping the old
    // table must not touch the rows that refer to it. Foreign keys are off while the steps run
    // (the pragma is a no-op inside a transaction, so it is set around them), each step checks
    // them before it commits, and they are back on as they were whatever happens.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = run_steps(conn, done);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

fn run_steps(conn: &mut Connection, done: usize) -> Result<(), MigrationError> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let version = i as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|source| MigrationError::Failed { version, source })?;
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(MigrationError::BrokenReferences { version, broken });
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_cleanly_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest());
        migrate(&mut conn).unwrap();
        let bad: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(bad, 0);
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            err.to_string().contains("newer than this chartrack"),
            "{err}"
        );
    }

    /// The migration that upper-cases barcodes (found by its text, not its number).
    fn case_migration() -> usize {
        MIGRATIONS
            .iter()
            .position(|m| m.contains("barcodes are case-insensitive (a keyboard-wedge"))
            .unwrap()
    }

    /// The first `n` migrations applied to `conn`, as `migrate` applies them.
    fn apply_migrations(conn: &mut Connection, n: usize) {
        for (i, step) in MIGRATIONS[..n].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(step).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
    }

    /// A database of the version before the barcode migration, with these statements applied.
    fn before_case_migration(sql: &str) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        apply_migrations(&mut conn, case_migration());
        conn.execute_batch(sql).unwrap();
        conn
    }

    const LOWER_CASE_LABELS: &str =
        "INSERT INTO location VALUES (1,'A','A','shelf','loc-a',NULL,NULL,'t');
         INSERT INTO patient VALUES (1,'1','X','Y',NULL,0,'t');
         INSERT INTO volume VALUES (1,'v0000998x',1,1,'medical',1,'t');
         INSERT INTO volume VALUES (2,'V0000999Y',1,2,'medical',1,'t');
         INSERT INTO loose_report (report_id, barcode, patient_id, description, created_at) VALUES (1,'lab-1',1,'lab','t');
         INSERT INTO app_user (user_id, name, role, badge, created_at) VALUES (1,'ann','clerk','badge-ann','t');
         INSERT INTO app_user (user_id, name, role, created_at) VALUES (2,'bob','clerk','t');";

    #[test]
    fn barcodes_stored_in_lower_case_are_upper_cased() {
        let mut conn = before_case_migration(LOWER_CASE_LABELS);
        migrate(&mut conn).unwrap();
        let all = |sql: &str| -> Vec<Option<String>> {
            let mut st = conn.prepare(sql).unwrap();
            let rows = st.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(all("SELECT barcode FROM location"), [Some("LOC-A".into())]);
        assert_eq!(
            all("SELECT barcode FROM volume ORDER BY volume_id"),
            [Some("V0000998X".into()), Some("V0000999Y".into())]
        );
        assert_eq!(
            all("SELECT barcode FROM loose_report"),
            [Some("LAB-1".into())]
        );
        assert_eq!(
            all("SELECT badge FROM app_user ORDER BY user_id"),
            [Some("BADGE-ANN".into()), None]
        );
        let temp: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_temp_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(temp, 0, "the migration's helpers are gone");
    }

    #[test]
    fn barcodes_that_differ_only_in_case_refuse_the_migration_and_change_nothing() {
        for (clash, kind) in [
            ("INSERT INTO volume VALUES (3,'V0000998X',1,3,'medical',1,'t')", "volume"),
            ("INSERT INTO app_user (user_id, name, role, badge, created_at) VALUES (3,'cy','clerk','BADGE-ANN','t')", "badge"),
        ] {
            let mut conn = before_case_migration(&format!("{LOWER_CASE_LABELS}; {clash};"));
            let err = migrate(&mut conn).unwrap_err().to_string();
            assert!(err.contains(&format!("two {kind} barcodes differ only in letter case")), "{err}");
            let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(v, case_migration() as i64);
            let lower: i64 = conn
                .query_row("SELECT count(*) FROM volume WHERE barcode = 'v0000998x'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(lower, 1, "nothing changed");
        }
    }

    /// The activity rollup by day, station and user becomes one by day and station and one by
    /// day and user, with the same totals.
    #[test]
    fn the_activity_split_keeps_every_total() {
        let mut conn = Connection::open_in_memory().unwrap();
        let split = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE activity_station"))
            .unwrap();
        apply_migrations(&mut conn, split);
        conn.execute_batch(
            "INSERT INTO activity_day VALUES ('2026-11-01','a',1,5,4,3), ('2026-11-01','a',2,2,2,2),
                 ('2026-11-01','b',1,1,0,0), ('2026-11-02','a',1,7,7,7);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let all = |sql: &str| -> Vec<String> {
            let mut st = conn.prepare(sql).unwrap();
            let rows = st.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            all("SELECT day || ' ' || station_id || ' ' || scans || '/' || accepted || '/' || movements FROM activity_station ORDER BY 1"),
            ["2026-11-01 a 7/6/5", "2026-11-01 b 1/0/0", "2026-11-02 a 7/7/7"]
        );
        assert_eq!(
            all("SELECT day || ' ' || user_id || ' ' || scans || '/' || accepted || '/' || movements FROM activity_user ORDER BY 1"),
            ["2026-11-01 1 6/4/3", "2026-11-01 2 2/2/2", "2026-11-02 1 7/7/7"]
        );
    }

    /// The migration that adds desks and station access (found by its text, not its number).
    fn desk_migration() -> usize {
        MIGRATIONS
            .iter()
            .position(|m| m.contains("a location may be a desk"))
            .unwrap()
    }

    #[test]
    fn the_desk_migration_keeps_every_location_and_what_refers_to_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        apply_migrations(&mut conn, desk_migration());
        conn.execute_batch(
            "INSERT INTO location VALUES (1,'FR-00-19','Shelf','shelf','LA',0,19,'t');
             INSERT INTO location VALUES (2,'4W','4 West','unit','LB',NULL,NULL,'t');
             INSERT INTO patient VALUES (1,'1','X','Y',NULL,0,'t');
             INSERT INTO volume VALUES (1,'V1',1,1,'medical',1,'t');
             INSERT INTO volume_state (volume_id, status, location_id, destination_id, since) VALUES (1,'in_transit',1,2,'t');
             INSERT INTO app_user (user_id, name, role, created_at, home_location_id) VALUES (1,'nan','nurse','t',2);
             INSERT INTO station (station_id, location_id, mode, created_at) VALUES ('s',1,'check-in','t');
             INSERT INTO scan VALUES (1,'id','s',1,'V1','t',NULL,1,'check-out','{}');
             INSERT INTO movement VALUES (1,1,1,'check-out',1,2,'t','s',1,NULL,NULL);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let on: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(on, "foreign keys are enforced again after migrating");
        let all = |sql: &str| -> Vec<String> {
            let mut st = conn.prepare(sql).unwrap();
            let rows = st.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            all("SELECT code || ' ' || kind || ' ' || coalesce(terminal_hi, '-') FROM location ORDER BY location_id"),
            ["FR-00-19 shelf 19", "4W unit -"]
        );
        let bad: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(bad, 0);
        conn.execute_batch(
            "INSERT INTO location VALUES (3,'FR-DESK','Check-in desk','desk','LC',NULL,NULL,'t');
             UPDATE station SET location_id = 3, allowed_roles = 'clerk,supervisor' WHERE station_id = 's';",
        )
        .unwrap();
        // The rebuilt table is still the one the others refer to: a dangling reference is refused.
        let e = conn
            .execute(
                "UPDATE station SET location_id = 99 WHERE station_id = 's'",
                [],
            )
            .unwrap_err();
        assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
        let e = conn
            .execute("DELETE FROM location WHERE location_id = 1", [])
            .unwrap_err();
        assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
        let e = conn
            .execute(
                "INSERT INTO location VALUES (4,'X','X','shelfish','LD',NULL,NULL,'t')",
                [],
            )
            .unwrap_err();
        assert!(e.to_string().contains("CHECK"), "{e}");
    }

    #[test]
    fn a_migration_that_would_break_a_reference_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        apply_migrations(&mut conn, desk_migration());
        // A row written while foreign keys were off (by hand, or by an old tool).
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute_batch(
            "INSERT INTO station (station_id, location_id, mode, created_at) VALUES ('s',7,'check-in','t');",
        )
        .unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let e = migrate(&mut conn).unwrap_err().to_string();
        assert!(e.contains("refer"), "{e}");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, desk_migration() as i64, "nothing changed");
        let on: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(on);
    }

    #[test]
    fn a_negative_schema_version_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", -1).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("schema version is -1"), "{err}");
    }

    #[test]
    fn movements_are_append_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO location VALUES (1,'A','A','shelf','LA',NULL,NULL,'t');
             INSERT INTO patient VALUES (1,'1','X','Y',NULL,0,'t');
             INSERT INTO volume VALUES (1,'V1',1,1,'medical',1,'t');
             INSERT INTO station (station_id, location_id, mode, created_at) VALUES ('s',1,'receive','t');
             INSERT INTO scan VALUES (1,'id','s',NULL,'V1','t',NULL,1,'receive');
             INSERT INTO movement VALUES (1,1,1,'receive',1,1,'t','s',NULL,NULL,NULL);",
        )
        .unwrap();
        let e = conn
            .execute("UPDATE movement SET action='x'", [])
            .unwrap_err();
        assert!(e.to_string().contains("append-only"));
        let e = conn.execute("DELETE FROM movement", []).unwrap_err();
        assert!(e.to_string().contains("append-only"));
    }

    #[test]
    fn scans_are_append_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO location VALUES (1,'A','A','shelf','LA',NULL,NULL,'t');
             INSERT INTO station (station_id, location_id, mode, created_at) VALUES ('s',1,'receive','t');
             INSERT INTO scan VALUES (1,'id','s',NULL,'V1','t',NULL,1,'receive');",
        )
        .unwrap();
        for sql in [
            "UPDATE scan SET accepted = 0",
            "UPDATE scan SET value = 'V2' WHERE scan_seq = 1",
            "DELETE FROM scan",
            "DELETE FROM scan WHERE scan_id = 'id'",
        ] {
            let e = conn.execute(sql, []).unwrap_err();
            assert!(
                e.to_string().contains("scans are append-only"),
                "{sql}: {e}"
            );
        }
        let row: (String, bool) = conn
            .query_row("SELECT value, accepted FROM scan", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(row, ("V1".into(), true), "nothing changed");
        // Appending goes on.
        conn.execute(
            "INSERT INTO scan VALUES (2,'id2','s',NULL,'V1','t',NULL,1,'receive')",
            [],
        )
        .unwrap();
    }
}
