#!/bin/sh
# Run by Patroni once, on the node that bootstraps the cluster, with a
# connection string as $1.
set -eu
psql "$1" -v ON_ERROR_STOP=1 -qc "create database eldercare"
psql "$1" -v ON_ERROR_STOP=1 -qf /etc/patroni/db-init.sql
