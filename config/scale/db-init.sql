-- docker-compose.scale.yml: the role EMQX reads device credentials with.
-- It may read `mqtt_accounts` and `mqtt_reserved_names` (the names no device
-- may take) and nothing else; the grant is given once eldercare has created
-- the tables (the compose file's `grants` service).
create role emqx_reader login password 'emqx-reader-demo-password';
