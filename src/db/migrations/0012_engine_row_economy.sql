-- Engine row economy (issue 3). Every message the engine writes and every recipient a mailing starts
-- with ran a foreign-key check: a trigger per row that looks the parent up and locks it (FOR KEY SHARE).
-- At a million recipients that is 2.4 million lookups and row locks for references that cannot break:
-- - messages are written only by the engine, for the recipient row it holds locked in the same
--   transaction, of that recipient's mailing;
-- - mailings and their recipients are never deleted (a mailing ends as completed or cancelled and stays
--   for its reports), so there is nothing to cascade;
-- - a recipient's contact_id is where the recipient came from. The contact may be deleted later; the
--   recipient keeps its own copy of the phone, zone and variables, and readers join contacts with a left
--   join. (The old ON DELETE SET NULL also had no index to find a contact's recipients by, so deleting
--   one contact scanned every recipient of every mailing.)
alter table messages drop constraint messages_recipient_id_fkey;
alter table messages drop constraint messages_mailing_id_fkey;
alter table mailing_recipients drop constraint mailing_recipients_contact_id_fkey;
alter table mailing_recipients drop constraint mailing_recipients_mailing_id_fkey;

-- A recipient row is rewritten at every step (its state and due time are indexed, so never in place),
-- and each rewrite added an entry to every index, each unique index first checking the row's earlier
-- versions. The (mailing_id, phone) unique index only kept a phone from being added twice when the
-- mailing starts, which that insert now does itself (distinct on phone); reading a mailing's recipients
-- needs only the mailing id.
alter table mailing_recipients drop constraint mailing_recipients_mailing_id_phone_key;
create index mailing_recipients_mailing_idx on mailing_recipients(mailing_id);
