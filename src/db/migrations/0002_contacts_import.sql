-- Contacts import: set-based dedupe across batches and the created/updated split of an import's counters.

-- The import that last wrote the contact. Within one import, a later row for a contact this import has
-- already written is a duplicate (first occurrence wins); the upsert checks this marker in SQL, so the
-- importer does not have to remember every phone of a file in memory.
alter table contacts add column last_import_id bigint;

-- imported_rows = created_rows + the rows that updated an existing contact.
alter table imports add column created_rows bigint not null default 0;
