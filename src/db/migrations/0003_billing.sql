-- Billing invariants the code keeps, enforced by the database as well, so a bug or a hand-written
-- query cannot overdraw an account or move money for one reservation twice.

-- Reservations use a conditional debit, so the balance never goes below zero.
alter table accounts add constraint accounts_balance_nonnegative check (balance >= 0);

alter table reservations add constraint reservations_channel_check
  check (channel in ('sms', 'viber', 'voice', 'vk', 'ok', 'whatsapp', 'call_password'));

-- Every reserve/refund row points at its reservation; top-ups and adjustments point at none.
alter table ledger add constraint ledger_reservation_fk foreign key (reservation_id) references reservations(id);
alter table ledger add constraint ledger_reservation_kind_check
  check ((kind in ('reserve', 'refund')) = (reservation_id is not null));
alter table ledger add constraint ledger_amount_sign_check check (
  (kind = 'topup' and amount > 0)
  or (kind = 'reserve' and amount <= 0)
  or (kind = 'refund' and amount >= 0)
  or kind = 'adjustment'
);

-- A reservation is charged once and refunded at most once.
create unique index ledger_reserve_once_uq on ledger(reservation_id) where kind = 'reserve';
create unique index ledger_refund_once_uq on ledger(reservation_id) where kind = 'refund';
