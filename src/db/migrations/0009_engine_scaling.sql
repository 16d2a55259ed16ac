-- Engine scaling (issue 3). Each claim of the engine takes the first batch of due recipients of one
-- kind of work — sends, or decisions and delays — in due order. With one due index for every state the
-- planner answered a claim by collecting all of a running mailing's rows (bitmap AND of the mailing
-- index and the due index), filtering them by state and sorting them to keep the first batch: every
-- claim read the whole mailing, so a mailing's cost grew with the square of its size (a 300k mailing:
-- 70-170 ms per claim, also for claims that found nothing, spilling sorts to disk). One partial index
-- per kind of work holds only the rows that kind claims, already in due order: a claim reads its batch
-- and stops, and a sending recipient never walks past recipients waiting for their decision (nor the
-- reverse). A state change moves a row from one index to the other (it changed due_at anyway, so it
-- was never a heap-only update).
drop index mailing_recipients_due_idx;
create index mailing_recipients_send_due_idx on mailing_recipients(due_at) where state in ('send', 'sending');
create index mailing_recipients_wait_due_idx on mailing_recipients(due_at) where state in ('waiting', 'delay');

-- Every recipient step leaves dead row versions behind (a recipient is rewritten 3-5 times, a message
-- 1-3 times, a provider event is inserted and deleted). With the default thresholds (20% of the table)
-- autovacuum reaches a million-row mailing only after hundreds of thousands of dead rows, and the claims
-- and lookups wade through them meanwhile; these tables are vacuumed and analyzed much sooner.
-- (PGlite has no autovacuum: the engine loop vacuums there itself, see src/mailings/engine/vacuum.ts.)
alter table mailing_recipients set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 10000,
  autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
alter table messages set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 10000,
  autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
alter table provider_events set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
  autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 50000,
  autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0);
