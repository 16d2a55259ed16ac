-- One rate budget per CRM integration shared by every worker process (SPEC IN-0: each CRM's
-- documented limit per account holds however many processes deliver). GCRA: `tat` is the theoretical
-- arrival time of the next request; a request reserves its slot by moving it forward.
-- No foreign key on purpose: a request is often made while a token refresh holds the integration row
-- FOR UPDATE, and the key-share lock a foreign-key check takes would wait for that refresh, which waits
-- for the request. A row left by a deleted integration is a few bytes and is never read again.
create table integration_rate (
  integration_id bigint primary key,
  tat timestamptz not null
);
