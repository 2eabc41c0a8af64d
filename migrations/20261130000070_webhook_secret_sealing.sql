-- Webhook secrets may be stored sealed (encrypted and authenticated with a
-- key derived from ELDERCARE__WEBHOOKS__SECRET_KEY, bound to the webhook's
-- id), so a copy of the database alone cannot sign deliveries. Rows stored
-- before, or while no key is set, stay as given and keep working: this
-- column says which a row is.
alter table webhooks add column secret_sealed boolean not null default false;
