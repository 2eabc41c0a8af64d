-- A presence check also goes by SMS to the elder's own phone (the
-- registry's number): a delivery is to a user or to a resident.
alter table notification_deliveries alter column user_id drop not null;
alter table notification_deliveries add column resident_id uuid references residents (id) on delete cascade;
alter table notification_deliveries add constraint notification_deliveries_recipient
    check (user_id is not null or resident_id is not null);
