-- Finding a message by its provider's id (issue 3). Every provider event (receipt, view, click, reply, key
-- press) is matched to its message by (provider, provider_message_id), and every message the engine writes
-- added an entry to a btree on that pair: two text columns of ~40 bytes in no useful order (providers'
-- ids are random or per-provider counters), so each insert landed on a random leaf page and split it.
-- Measured on PostgreSQL 15 with 200k messages: the insert took 2.95 s with that btree, 1.56 s without it,
-- 1.87 s with this hash index instead. Lookups are equality only, and the provider is checked on the row;
-- NULL ids (messages whose send failed) are not indexed at all. Hash indexes are WAL-logged and crash-safe
-- since PostgreSQL 10.
drop index messages_provider_idx;
create index messages_provider_message_idx on messages using hash (provider_message_id);
