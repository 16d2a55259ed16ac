-- Engine throughput (issue 3). The cascade engine moves each message with as few row writes as it can:
-- a message row is written once, complete, after its provider call (the call and the write share one
-- transaction; the idempotency key, derived from recipient + step + attempt, makes a retried call safe),
-- later updates touch no indexed column (HOT updates), and money moves as one ledger row per batch.

-- A batch reserve or refund covers `items` messages; the messages rows hold each one's cost and its
-- refunded flag (the flag flips once, so a message is refunded at most once). Single reservations
-- (reserve/refund for one key, e.g. a call password) keep their reservation row as before.
alter table ledger add column items int check (items > 0);
alter table ledger drop constraint ledger_reservation_kind_check;
alter table ledger add constraint ledger_reservation_kind_check check (
  case when kind in ('reserve', 'refund') then (reservation_id is not null) <> (items is not null)
       else reservation_id is null and items is null end
);

-- The key a provider sees is r<recipient>s<step>a<attempt>; its uniqueness is this index.
alter table messages drop constraint messages_idempotency_key_key;
drop index messages_recipient_idx;
create unique index messages_attempt_uq on messages(recipient_id, step, attempt);
-- Room on each page for the status, decision and refund updates to stay heap-only.
alter table messages set (fillfactor = 70);

-- Reports read recipients by mailing through the (mailing_id, phone) index; nothing needs (mailing_id, state).
drop index mailing_recipients_mailing_idx;
