-- Devices created by importing a log recorded elsewhere (a CASAS smart-home
-- log): their data is history, replayed by the backtest. They have no broker
-- credential, are never judged online or offline, and nothing they "send"
-- raises a live alert.
alter table devices add column historical boolean not null default false;
